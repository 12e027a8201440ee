package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"rsc.io/qr"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// OAQRCodes manages the Official Account channel QR codes.
type OAQRCodes interface {
	List(ctx context.Context) ([]services.OAQRCodeStats, error)
	Create(ctx context.Context, maker services.QRCodeMaker, appID string, in services.OAQRCodeInput, by services.Actor) (services.OAQRCode, error)
	Retire(ctx context.Context, id int64, by services.Actor) error
	PublishedForms(ctx context.Context) ([]services.FormChoice, error)
	Reply(q services.OAQRCode) services.OAReply
}

func (h *consoleHandler) registerOAQR(g *gin.RouterGroup) {
	if h.OAQR == nil {
		return
	}
	g.GET("/oaqr", h.oaqrPage)
	g.POST("/oaqr", h.oaqrCreate)
	g.POST("/oaqr/:id/retire", h.oaqrRetire)
}

func (h *consoleHandler) oaqrPage(c *gin.Context) {
	flash := map[string]string{"created": "公众号渠道二维码已创建", "retired": "二维码已停用，扫码不再回复"}[c.Query("flash")]
	h.renderOAQR(c, http.StatusOK, services.OAQRCodeInput{ReplyKind: services.ReplyText, ExpireDays: 30}, nil, flash)
}

func (h *consoleHandler) renderOAQR(c *gin.Context, status int, in services.OAQRCodeInput, formErr error, flash string) {
	ctx := c.Request.Context()
	rows, err := h.OAQR.List(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	forms, err := h.OAQR.PublishedForms(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.OAQRVM{Shell: adminShell(c, "公众号渠道码", "/admin/oaqr"), Flash: flash,
		CanWrite: currentAdmin(c).Role == services.RoleAdmin, Form: oaqrFormVM(in, forms, formErr)}
	for _, r := range rows {
		vm.Rows = append(vm.Rows, h.oaqrRow(r))
	}
	web.Render(c, status, admin.OAQRPage(vm))
}

func oaqrFormVM(in services.OAQRCodeInput, forms []services.FormChoice, formErr error) admin.OAQRFormVM {
	f := admin.OAQRFormVM{Code: in.Code, Name: in.Name, ReplyKind: in.ReplyKind, ReplyText: in.ReplyText,
		NewsTitle: in.NewsTitle, NewsDescription: in.NewsDescription, NewsPicURL: in.NewsPicURL, Permanent: in.Permanent,
		Errors: services.ErrorFields(formErr)}
	if in.ExpireDays > 0 {
		f.ExpireDays = strconv.Itoa(in.ExpireDays)
	}
	if formErr != nil {
		f.Error = services.ErrorMessage(formErr)
	}
	f.Forms = []admin.ChoiceVM{{Value: "", Label: "不附带表单"}}
	for _, fm := range forms {
		f.Forms = append(f.Forms, admin.ChoiceVM{Value: fm.Slug, Label: fm.Title, Checked: fm.Slug == in.FormSlug})
	}
	return f
}

func (h *consoleHandler) oaqrRow(r services.OAQRCodeStats) admin.OAQRRowVM {
	row := admin.OAQRRowVM{ID: r.ID, Code: r.Code, Name: r.Name, ImageURL: r.ImageURL, Lifetime: "永久",
		Reply: replyVM(h.OAQR.Reply(r.OAQRCode), r.FormTitle), Scans: r.Scans, Follows: r.Follows,
		Registrations: r.Registrations, RetireAction: fmt.Sprintf("/admin/oaqr/%d/retire", r.ID)}
	if r.ExpiresAt != nil {
		row.Lifetime = "有效至 " + r.ExpiresAt.Local().Format("2006-01-02 15:04")
	}
	// The image is drawn from the code's url, so it shows without reaching
	// mp.weixin.qq.com (the admin's browser may not, the sandbox has no such host).
	if code, err := qr.Encode(r.URL, qr.M); err == nil && r.URL != "" {
		code.Scale = 4
		row.QRImage = "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG())
	}
	return row
}

func replyVM(r services.OAReply, formTitle string) admin.OAReplyVM {
	vm := admin.OAReplyVM{Kind: r.Kind, Title: r.Title, Description: r.Description, PicURL: r.PicURL, URL: r.URL, LinkTitle: formTitle}
	if r.Kind == services.ReplyText {
		vm.Text, _, _ = strings.Cut(r.Content, "\n<a href=")
	}
	return vm
}

func oaqrInput(c *gin.Context) services.OAQRCodeInput {
	in := services.OAQRCodeInput{Code: c.PostForm("code"), Name: c.PostForm("name"), Permanent: c.PostForm("permanent") == "1",
		ReplyKind: c.PostForm("reply_kind"), ReplyText: c.PostForm("reply_text"), NewsTitle: c.PostForm("news_title"),
		NewsDescription: c.PostForm("news_description"), NewsPicURL: c.PostForm("news_pic_url"), FormSlug: c.PostForm("form")}
	in.ExpireDays, _ = strconv.Atoi(strings.TrimSpace(c.PostForm("expire_days")))
	return in
}

func (h *consoleHandler) oaqrCreate(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	in := oaqrInput(c)
	// Bad input is answered before WeChat is asked for anything.
	err := in.Validate()
	if err == nil {
		err = h.createOAQR(c, in)
	}
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, "/admin/oaqr?flash=created")
	case services.EINVALID, services.ECONFLICT:
		h.renderOAQR(c, http.StatusUnprocessableEntity, in, err, "")
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) createOAQR(c *gin.Context, in services.OAQRCodeInput) error {
	ctx := c.Request.Context()
	if h.WeChat == nil {
		return services.Errorf(services.EUNAVAILABLE, "尚未连接公众号")
	}
	client, err := h.WeChat.WeChat(ctx)
	if err != nil {
		return err
	}
	appID := client.AppIDs().OAAppID
	if appID == "" {
		return services.Errorf(services.EUNAVAILABLE, "尚未配置公众号，请管理员在设置页完成配置")
	}
	_, err = h.OAQR.Create(ctx, client, appID, in, actorOf(c))
	return err
}

func (h *consoleHandler) oaqrRetire(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if err := h.OAQR.Retire(c.Request.Context(), id, actorOf(c)); err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/oaqr?flash=retired")
}
