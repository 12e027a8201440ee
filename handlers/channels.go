package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// ChannelStore manages channel QR codes.
type ChannelStore interface {
	Channels(ctx context.Context, corp string) ([]services.ChannelStats, error)
	CreateChannel(ctx context.Context, ways services.ContactWays, corp string, in services.ChannelInput, v services.Operator) (services.Channel, error)
	DeleteChannel(ctx context.Context, ways services.ContactWays, corp string, id int64, v services.Operator) error
	EmployeeChoices(ctx context.Context, corp string) ([]services.EmployeeChoice, error)
	TagChoices(ctx context.Context, corp string) ([]services.TagChoice, error)
	PublishedForms(ctx context.Context) ([]services.FormChoice, error)
}

func (h *syncHandler) channelsPage(c *gin.Context) {
	h.renderChannels(c, http.StatusOK, services.ChannelInput{SkipVerify: true}, nil, c.Query("flash"))
}

func (h *syncHandler) renderChannels(c *gin.Context, status int, in services.ChannelInput, formErr error, flash string) {
	ctx := c.Request.Context()
	t, err := h.targets.SyncTarget(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	rows, err := h.channels.Channels(ctx, t.CorpID)
	if err != nil {
		web.Fail(c, err)
		return
	}
	form, err := h.channelForm(ctx, t.CorpID, in, formErr)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.ChannelsVM{Shell: adminShell(c, "渠道活码", "/admin/channels"), Form: form,
		CanWrite: currentAdmin(c).Role == services.RoleAdmin}
	if flash == "created" {
		vm.Flash = "渠道活码已创建"
	} else if flash == "deleted" {
		vm.Flash = "渠道活码已删除"
	}
	for _, r := range rows {
		vm.Rows = append(vm.Rows, channelRowVM(r))
	}
	web.Render(c, status, admin.ChannelsPage(vm))
}

func channelRowVM(r services.ChannelStats) admin.ChannelRowVM {
	return admin.ChannelRowVM{ID: r.ID, Code: r.Code, Name: r.Name, QRCode: r.QRCode,
		Employees: strings.Join(r.Employees, "、"), Tags: strconv.Itoa(len(r.TagIDs)) + " 个", Welcome: r.WelcomeText,
		Form: r.FormTitle, Adds: r.Adds, Registrations: r.Registrations,
		Conversion: fmt.Sprintf("%.1f%%", r.Conversion()*100), DeleteAction: fmt.Sprintf("/admin/channels/%d/delete", r.ID)}
}

// channelForm builds the create form with its choices, keeping what was typed.
func (h *syncHandler) channelForm(ctx context.Context, corp string, in services.ChannelInput, formErr error) (admin.ChannelFormVM, error) {
	f := admin.ChannelFormVM{Code: in.Code, Name: in.Name, Welcome: in.WelcomeText, SkipVerify: in.SkipVerify,
		Errors: services.ErrorFields(formErr)}
	if formErr != nil {
		f.Error = services.ErrorMessage(formErr)
	}
	emps, err := h.channels.EmployeeChoices(ctx, corp)
	if err != nil {
		return f, err
	}
	for _, e := range emps {
		f.Employees = append(f.Employees, admin.ChoiceVM{Value: e.UserID, Label: e.Name + " (" + e.UserID + ")", Checked: hasString(in.Employees, e.UserID)})
	}
	tags, err := h.channels.TagChoices(ctx, corp)
	if err != nil {
		return f, err
	}
	for _, t := range tags {
		f.Tags = append(f.Tags, admin.ChoiceVM{Value: t.ID, Label: t.Group + " / " + t.Name, Checked: hasString(in.TagIDs, t.ID)})
	}
	forms, err := h.channels.PublishedForms(ctx)
	if err != nil {
		return f, err
	}
	f.Forms = []admin.ChoiceVM{{Value: "", Label: "不附带表单"}}
	for _, fm := range forms {
		f.Forms = append(f.Forms, admin.ChoiceVM{Value: fm.Slug, Label: fm.Title, Checked: fm.Slug == in.FormSlug})
	}
	return f, nil
}

func hasString(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (h *syncHandler) channelCreate(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	ctx := c.Request.Context()
	in := services.ChannelInput{Code: c.PostForm("code"), Name: c.PostForm("name"), Employees: c.PostFormArray("employees"),
		TagIDs: c.PostFormArray("tags"), WelcomeText: c.PostForm("welcome_text"), FormSlug: c.PostForm("form"),
		SkipVerify: c.PostForm("skip_verify") == "1"}
	t, err := h.targets.SyncTarget(ctx)
	if err == nil {
		_, err = h.channels.CreateChannel(ctx, t.Client, t.CorpID, in, operator(c))
	}
	switch code := services.ErrorCode(err); code {
	case "":
		c.Redirect(http.StatusSeeOther, "/admin/channels?flash=created")
	case services.EINVALID, services.ECONFLICT:
		h.renderChannels(c, http.StatusUnprocessableEntity, in, err, "")
	default:
		web.Fail(c, err)
	}
}

func (h *syncHandler) channelDelete(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	ctx := c.Request.Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		web.Fail(c, services.Errorf(services.ENOTFOUND, "渠道不存在"))
		return
	}
	t, err := h.targets.SyncTarget(ctx)
	if err == nil {
		err = h.channels.DeleteChannel(ctx, t.Client, t.CorpID, id, operator(c))
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/channels?flash=deleted")
}
