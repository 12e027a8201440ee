package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// TemplateMessages is what the template message pages need.
type TemplateMessages interface {
	SyncTemplates(ctx context.Context, appID string, by services.Actor) (int, error)
	Templates(ctx context.Context) ([]services.OATemplateRow, error)
	Segments(ctx context.Context) ([]services.Segment, error)
	PublishedForms(ctx context.Context) ([]services.FormChoice, error)
	CreateSend(ctx context.Context, appID string, in services.TemplateSendInput, by services.Actor) (services.TemplateSend, error)
	Sends(ctx context.Context) ([]services.TemplateSend, error)
	Send(ctx context.Context, id int64) (services.TemplateSend, error)
	Preview(ctx context.Context, id int64, openid string) (services.TemplatePreview, error)
	TestSend(ctx context.Context, id int64, openid string, by services.Actor) (int64, error)
	Start(ctx context.Context, id int64, by services.Actor) (int, error)
	Summary(ctx context.Context, id int64) (services.TemplateSummary, error)
	Recipients(ctx context.Context, id int64, limit int) ([]services.TemplateRecipient, error)
}

func (h *consoleHandler) registerTemplateMsgs(g *gin.RouterGroup) {
	if h.TemplateMsgs == nil {
		return
	}
	g.GET("/templatemsg", h.tmList)
	g.POST("/templatemsg/sync", h.tmSync)
	g.GET("/templatemsg/new", h.tmNew)
	g.POST("/templatemsg", h.tmCreate)
	g.GET("/templatemsg/:id", h.tmShow)
	g.POST("/templatemsg/:id/test", h.tmTest)
	g.POST("/templatemsg/:id/start", h.tmStart)
}

var sendStatus = map[string][2]string{services.SendDraft: {"草稿", "info"}, services.SendSending: {"发送中", "warn"},
	services.SendDone: {"已完成", "ok"}}

func (h *consoleHandler) tmList(c *gin.Context) {
	ctx := c.Request.Context()
	sends, err := h.TemplateMsgs.Sends(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	tpls, err := h.TemplateMsgs.Templates(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.TemplateMsgListVM{Shell: adminShell(c, "模板消息", "/admin/templatemsg"), CanWrite: currentAdmin(c).Role == services.RoleAdmin,
		Flash: c.Query("flash")}
	for _, s := range sends {
		st := sendStatus[s.Status]
		vm.Sends = append(vm.Sends, admin.TemplateSendRowVM{ID: s.ID, Title: s.Title, Segment: s.SegmentName, Status: st[0], StatusKind: st[1],
			Recipients: s.Recipients, When: s.CreatedAt.Local().Format("2006-01-02 15:04"), URL: fmt.Sprintf("/admin/templatemsg/%d", s.ID)})
	}
	for _, t := range tpls {
		vm.Templates = append(vm.Templates, admin.TemplateRowVM{Title: t.Title, Content: t.Content, Fields: strings.Join(t.Fields, "、")})
	}
	web.Render(c, http.StatusOK, admin.TemplateMsgListPage(vm))
}

// oaAppID is the OA appid of the connected client ("" when not connected).
func (h *consoleHandler) oaAppID(ctx context.Context) (string, error) {
	if h.WeChat == nil {
		return "", services.Errorf(services.EUNAVAILABLE, "尚未连接公众号")
	}
	client, err := h.WeChat.WeChat(ctx)
	if err != nil {
		return "", err
	}
	if id := client.AppIDs().OAAppID; id != "" {
		return id, nil
	}
	return "", services.Errorf(services.EUNAVAILABLE, "尚未配置公众号，请管理员在设置页完成配置")
}

func (h *consoleHandler) tmSync(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	ctx := c.Request.Context()
	appID, err := h.oaAppID(ctx)
	var n int
	if err == nil {
		n, err = h.TemplateMsgs.SyncTemplates(ctx, appID, actorOf(c))
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/templatemsg?flash="+url.QueryEscape(fmt.Sprintf("已同步 %d 个模板", n)))
}

func (h *consoleHandler) tmNew(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	h.renderTMNew(c, http.StatusOK, services.TemplateSendInput{TemplateID: c.Query("template")}, nil)
}

func (h *consoleHandler) renderTMNew(c *gin.Context, status int, in services.TemplateSendInput, formErr error) {
	ctx := c.Request.Context()
	vm, err := h.tmNewVM(ctx, in, formErr)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm.Shell = adminShell(c, "新建模板消息", "/admin/templatemsg")
	web.Render(c, status, admin.TemplateMsgNewPage(vm))
}

func (h *consoleHandler) tmNewVM(ctx context.Context, in services.TemplateSendInput, formErr error) (admin.TemplateMsgNewVM, error) {
	vm := admin.TemplateMsgNewVM{Errors: services.ErrorFields(formErr), Template: in.TemplateID}
	if formErr != nil {
		vm.Error = services.ErrorMessage(formErr)
	}
	tpls, err := h.TemplateMsgs.Templates(ctx)
	if err != nil {
		return vm, err
	}
	var fields []string
	vm.Template = ""
	for _, t := range tpls {
		vm.Templates = append(vm.Templates, admin.Option{Value: t.TemplateID, Label: t.Title, Selected: t.TemplateID == in.TemplateID})
		if t.TemplateID == in.TemplateID {
			vm.Template, vm.Content, fields = t.TemplateID, t.Content, t.Fields
		}
	}
	for _, name := range fields {
		f := in.Fields[name]
		fv := admin.TemplateFieldVM{Name: name, Kind: f.Kind, Error: vm.Errors["field_"+name]}
		if f.Kind == services.TplFieldVar {
			fv.Var = f.Value
		} else {
			fv.Text = f.Value
		}
		vm.Fields = append(vm.Fields, fv)
	}
	vm.Vars = templateVarOptions()
	return vm, h.tmChoices(ctx, &vm, in)
}

func templateVarOptions() []admin.Option {
	var out []admin.Option
	for k, label := range services.TemplateVars {
		out = append(out, admin.Option{Value: k, Label: label})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value > out[j].Value })
	return out
}

func (h *consoleHandler) tmChoices(ctx context.Context, vm *admin.TemplateMsgNewVM, in services.TemplateSendInput) error {
	segs, err := h.TemplateMsgs.Segments(ctx)
	if err != nil {
		return err
	}
	for _, s := range segs {
		vm.Segments = append(vm.Segments, admin.Option{Value: strconv.FormatInt(s.ID, 10), Label: s.Name, Selected: s.ID == in.SegmentID})
	}
	forms, err := h.TemplateMsgs.PublishedForms(ctx)
	if err != nil {
		return err
	}
	vm.Forms = []admin.Option{{Value: "", Label: "不附带链接"}}
	for _, f := range forms {
		vm.Forms = append(vm.Forms, admin.Option{Value: f.Slug, Label: f.Title, Selected: f.Slug == in.FormSlug})
	}
	return nil
}

// tmInput reads the composer: per field "kind_<name>" with "text_<name>"
// or "var_<name>".
func tmInput(c *gin.Context) services.TemplateSendInput {
	in := services.TemplateSendInput{TemplateID: c.PostForm("template"), FormSlug: c.PostForm("form"), Fields: services.TemplateFields{}}
	in.SegmentID, _ = strconv.ParseInt(c.PostForm("segment"), 10, 64)
	_ = c.Request.ParseForm()
	for key := range c.Request.PostForm {
		name, ok := strings.CutPrefix(key, "kind_")
		if !ok {
			continue
		}
		kind := c.PostForm(key)
		value := c.PostForm("text_" + name)
		if kind == services.TplFieldVar {
			value = c.PostForm("var_" + name)
		}
		in.Fields[name] = services.TemplateField{Kind: kind, Value: value}
	}
	return in
}

func (h *consoleHandler) tmCreate(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	ctx := c.Request.Context()
	in := tmInput(c)
	// No appid yet is fine here: the input is checked first and the
	// service refuses the send itself when the OA is not connected.
	appID, _ := h.oaAppID(ctx)
	snd, err := h.TemplateMsgs.CreateSend(ctx, appID, in, actorOf(c))
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, fmt.Sprintf("/admin/templatemsg/%d", snd.ID))
	case services.EINVALID:
		h.renderTMNew(c, http.StatusUnprocessableEntity, in, err)
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) tmShow(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	h.renderTMShow(c, http.StatusOK, id, c.Query("flash"), nil)
}

func (h *consoleHandler) renderTMShow(c *gin.Context, status int, id int64, flash string, actionErr error) {
	ctx := c.Request.Context()
	snd, err := h.TemplateMsgs.Send(ctx, id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	st := sendStatus[snd.Status]
	vm := admin.TemplateMsgShowVM{Shell: adminShell(c, "模板消息群发", "/admin/templatemsg"), ID: id, Title: snd.Title,
		Segment: snd.SegmentName, Status: st[0], StatusKind: st[1], Flash: flash,
		CanWrite: currentAdmin(c).Role == services.RoleAdmin, CanStart: snd.Status == services.SendDraft}
	if actionErr != nil {
		vm.Error = services.ErrorMessage(actionErr)
	}
	h.tmPreview(ctx, &vm, id, c.Query("openid"))
	if !vm.CanStart {
		if err := h.tmResults(ctx, &vm, id); err != nil {
			web.Fail(c, err)
			return
		}
	}
	web.Render(c, status, admin.TemplateMsgShowPage(vm))
}

// tmPreview renders the send for a sample fan; without one it says so.
func (h *consoleHandler) tmPreview(ctx context.Context, vm *admin.TemplateMsgShowVM, id int64, openid string) {
	p, err := h.TemplateMsgs.Preview(ctx, id, openid)
	if err != nil {
		vm.SampleNote = "无法预览：" + services.ErrorMessage(err)
		return
	}
	vm.SampleOpenID, vm.LinkURL = p.Fan.OpenID, p.URL
	vm.SampleNote = "预览粉丝：" + p.Fan.OpenID
	for _, v := range p.Values {
		vm.Values = append(vm.Values, admin.TemplateValueVM{Name: v.Name, Value: v.Value})
	}
}

func (h *consoleHandler) tmResults(ctx context.Context, vm *admin.TemplateMsgShowVM, id int64) error {
	s, err := h.TemplateMsgs.Summary(ctx, id)
	if err != nil {
		return err
	}
	vm.Total, vm.Pending, vm.Sent, vm.Failed = s.Total, s.Pending, s.Sent, s.Failed
	vm.Delivered, vm.UserBlock, vm.SystemFailed = s.Delivered, s.UserBlock, s.SystemFailed
	for _, e := range s.Errcodes {
		vm.Errcodes = append(vm.Errcodes, admin.TemplateErrcodeVM{Code: e.Code, Count: e.Count, Text: e.Text})
	}
	rs, err := h.TemplateMsgs.Recipients(ctx, id, 50)
	for _, r := range rs {
		row := admin.TemplateRecipientVM{OpenID: r.OpenID, Status: r.Status, Delivery: r.Delivery}
		if r.MsgID != nil {
			row.MsgID = strconv.FormatInt(*r.MsgID, 10)
		}
		if r.Errcode != 0 {
			row.Errcode = strconv.Itoa(r.Errcode)
		}
		vm.Recipients = append(vm.Recipients, row)
	}
	return err
}

func (h *consoleHandler) tmTest(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	msgid, err := h.TemplateMsgs.TestSend(c.Request.Context(), id, strings.TrimSpace(c.PostForm("openid")), actorOf(c))
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, fmt.Sprintf("/admin/templatemsg/%d?flash=%s", id, url.QueryEscape(fmt.Sprintf("测试消息已发送（msgid %d）", msgid))))
	case services.EINVALID:
		h.renderTMShow(c, http.StatusUnprocessableEntity, id, "", err)
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) tmStart(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	n, err := h.TemplateMsgs.Start(c.Request.Context(), id, actorOf(c))
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, fmt.Sprintf("/admin/templatemsg/%d?flash=%s", id, url.QueryEscape(fmt.Sprintf("已开始发送给 %d 位粉丝", n))))
	case services.EINVALID, services.ECONFLICT:
		h.renderTMShow(c, http.StatusUnprocessableEntity, id, "", err)
	default:
		web.Fail(c, err)
	}
}
