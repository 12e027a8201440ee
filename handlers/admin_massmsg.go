package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// MassMessages is what the console needs of WeCom mass messages.
type MassMessages interface {
	MassMessages(ctx context.Context, v services.Operator) ([]services.MassMessage, error)
	Choices(ctx context.Context, v services.Operator) (services.MassChoices, error)
	CreateMassMessage(ctx context.Context, v services.Operator, in services.MassMessageInput) (services.MassMessage, error)
	Preview(ctx context.Context, v services.Operator, id int64) (services.MassPlan, error)
	MassMessageReport(ctx context.Context, v services.Operator, id int64) (services.MassReport, error)
	SendMassMessage(ctx context.Context, v services.Operator, id int64) (services.MassSendResult, error)
	RefreshMassMessage(ctx context.Context, v services.Operator, id int64) error
}

func (h *consoleHandler) registerMassMessages(g *gin.RouterGroup) {
	if h.MassMessages == nil {
		return
	}
	g.GET("/massmsg", h.listMass)
	g.GET("/massmsg/new", h.newMass)
	g.POST("/massmsg", h.createMass)
	g.GET("/massmsg/:id", h.showMass)
	g.POST("/massmsg/:id/send", h.sendMass)
	g.POST("/massmsg/:id/refresh", h.refreshMass)
}

var massStatus = map[string][2]string{"draft": {"草稿", "info"}, "sending": {"创建中", "warn"},
	"sent": {"已创建，待员工确认", "ok"}, "failed": {"创建失败", "danger"}}

func (h *consoleHandler) listMass(c *gin.Context) {
	list, err := h.MassMessages.MassMessages(c.Request.Context(), operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.MassListVM{Shell: adminShell(c, "企微群发", "/admin/massmsg"), CanCreate: currentAdmin(c).Role == services.RoleAdmin}
	for _, m := range list {
		st := massStatus[m.Status]
		vm.Rows = append(vm.Rows, admin.MassRowVM{ID: m.ID, Title: m.Title, Segment: m.SegmentName, Status: st[0], StatusKind: st[1],
			Excluded: m.ExcludedWeek, Created: m.CreatedAt.In(chinaTZ).Format("2006-01-02 15:04"), Sent: timeOrDash(m.SentAt)})
	}
	web.Render(c, http.StatusOK, admin.MassListPage(vm))
}

func (h *consoleHandler) newMass(c *gin.Context) {
	h.renderMassForm(c, http.StatusOK, admin.MassFormVM{Attach: services.AttachForm}, services.MassMessageInput{}, nil)
}

func (h *consoleHandler) renderMassForm(c *gin.Context, status int, vm admin.MassFormVM, in services.MassMessageInput, formErr error) {
	ch, err := h.MassMessages.Choices(c.Request.Context(), operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm.Shell = adminShell(c, "新建企微群发", "/admin/massmsg")
	for _, s := range ch.Segments {
		vm.Segments = append(vm.Segments, admin.Option{Value: strconv.FormatInt(s.ID, 10), Label: s.Name, Selected: s.ID == in.SegmentID})
	}
	for _, f := range ch.Forms {
		vm.Forms = append(vm.Forms, admin.Option{Value: strconv.FormatInt(f.ID, 10), Label: f.Title, Selected: f.ID == in.FormID})
	}
	if formErr != nil {
		vm.Error, vm.Fields = services.ErrorMessage(formErr), services.ErrorFields(formErr)
	}
	web.Render(c, status, admin.MassFormPage(vm))
}

func (h *consoleHandler) createMass(c *gin.Context) {
	in := services.MassMessageInput{Title: c.PostForm("title"), Text: c.PostForm("text"), AttachKind: c.PostForm("attach"),
		MPTitle: c.PostForm("mp_title"), MPPage: c.PostForm("mp_page"), MPMediaID: c.PostForm("mp_media_id")}
	in.SegmentID, _ = strconv.ParseInt(c.PostForm("segment"), 10, 64)
	in.FormID, _ = strconv.ParseInt(c.PostForm("form"), 10, 64)
	m, err := h.MassMessages.CreateMassMessage(c.Request.Context(), operator(c), in)
	if services.ErrorCode(err) == services.EINVALID {
		vm := admin.MassFormVM{Title: in.Title, Text: in.Text, Attach: in.AttachKind, MPTitle: in.MPTitle, MPPage: in.MPPage, MPMediaID: in.MPMediaID}
		h.renderMassForm(c, http.StatusUnprocessableEntity, vm, in, err)
		return
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/massmsg/"+strconv.FormatInt(m.ID, 10))
}

func (h *consoleHandler) showMass(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	var flash *admin.Flash
	switch {
	case c.Query("sent") != "":
		flash = &admin.Flash{Kind: "success", Text: "已创建群发任务：员工在企业微信中确认后发出，稍后刷新查看结果"}
	case c.Query("refreshed") != "":
		flash = &admin.Flash{Kind: "success", Text: "已从企业微信刷新结果"}
	}
	h.renderMass(c, id, http.StatusOK, flash)
}

func (h *consoleHandler) sendMass(c *gin.Context) {
	h.massAction(c, "sent", func(ctx context.Context, v services.Operator, id int64) error {
		_, err := h.MassMessages.SendMassMessage(ctx, v, id)
		return err
	})
}

func (h *consoleHandler) refreshMass(c *gin.Context) {
	h.massAction(c, "refreshed", h.MassMessages.RefreshMassMessage)
}

// massAction runs a POST action and redirects back, or shows the page again
// with the refusal (WeCom's errcode included) as the flash.
func (h *consoleHandler) massAction(c *gin.Context, done string, fn func(context.Context, services.Operator, int64) error) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	err := fn(c.Request.Context(), operator(c), id)
	switch code := services.ErrorCode(err); code {
	case "":
		seeOther(c, "/admin/massmsg/"+strconv.FormatInt(id, 10)+"?"+done+"=1")
	case services.EINVALID, services.EUNAVAILABLE, services.ECONFLICT:
		msg := services.ErrorMessage(err)
		for _, f := range services.ErrorFields(err) {
			msg = f
		}
		h.renderMass(c, id, web.Status(code), &admin.Flash{Kind: "error", Text: msg})
	default:
		web.Fail(c, err)
	}
}
