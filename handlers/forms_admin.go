package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/views/forms"
	"github.com/marketing-assistant/assistant/web"
)

// blankFieldRows are offered below a form's fields for adding new ones.
const blankFieldRows = 3

func (h *formHandler) registerAdmin(g *gin.RouterGroup) {
	if g == nil {
		return
	}
	g.GET("/forms", h.adminList)
	g.GET("/forms/new", h.adminNew)
	g.POST("/forms", h.adminCreate)
	g.POST("/forms/hosts", h.adminHosts)
	g.GET("/forms/:id/edit", h.adminEdit)
	g.POST("/forms/:id", h.adminUpdate)
	g.GET("/forms/:id/preview", h.adminPreview)
	g.GET("/forms/:id/submissions", h.adminSubmissions)
	g.GET("/forms/:id/submissions.csv", h.adminExport)
}

func (h *formHandler) adminList(c *gin.Context) {
	h.renderList(c, http.StatusOK, "", "")
}

func (h *formHandler) renderList(c *gin.Context, status int, hostsText, hostsErr string) {
	ctx := c.Request.Context()
	list, err := h.Forms.ListForms(ctx, operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.FormsVM{Shell: adminShell(c, "注册表单", "/admin/forms"), Hosts: hostsText, HostsError: hostsErr,
		CanEdit: isAdmin(c)}
	if c.Query("saved") == "hosts" {
		vm.Flash = "已保存允许跳转的域名"
	}
	if hostsErr == "" {
		hosts, err := h.Forms.RedirectHosts(ctx)
		if err != nil {
			web.Fail(c, err)
			return
		}
		vm.Hosts = strings.Join(hosts, "\n")
	}
	for _, f := range list {
		row := admin.FormRow{ID: f.ID, Title: f.Title, Published: f.Published, Submissions: f.Submissions,
			Link: h.BaseURL + formPath(f.Slug, "", "")}
		if f.LastAt != nil {
			row.LastAt = f.LastAt.Format("2006-01-02 15:04")
		}
		vm.Forms = append(vm.Forms, row)
	}
	web.Render(c, status, admin.FormsPage(vm))
}

func (h *formHandler) adminHosts(c *gin.Context) {
	text := c.PostForm("hosts")
	if err := h.Forms.SetRedirectHostsBy(c.Request.Context(), operator(c), strings.Split(text, "\n")); err != nil {
		if services.ErrorCode(err) != services.EINVALID {
			web.Fail(c, err)
			return
		}
		h.renderList(c, http.StatusUnprocessableEntity, text, services.ErrorFields(err)["hosts"])
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/forms?saved=hosts")
}

func (h *formHandler) adminNew(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	in := services.FormInput{ConsentText: "我已阅读并同意《隐私政策》，同意为报名及后续服务使用我填写的信息。",
		SuccessMessage: "报名成功，我们会尽快与你联系。",
		Fields:         []services.Field{{Kind: services.FieldName, Label: "姓名", Required: true}}}
	web.Render(c, http.StatusOK, admin.FormEditPage(h.editVM(c, "新建表单", "/admin/forms", in, "", nil)))
}

func (h *formHandler) adminCreate(c *gin.Context) {
	in := readFormInput(c)
	f, err := h.Forms.CreateFormBy(c.Request.Context(), operator(c), in)
	if err != nil {
		h.editFailed(c, "新建表单", "/admin/forms", in, "", err)
		return
	}
	c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/forms/%d/edit", f.ID))
}

func (h *formHandler) adminEdit(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	f, ok := h.loadForm(c)
	if !ok {
		return
	}
	in := services.FormInput{Title: f.Title, CoverURL: f.CoverURL, Description: f.Description, Fields: f.Fields,
		ConsentText: f.ConsentText, PrivacyURL: f.PrivacyURL, SuccessMessage: f.SuccessMessage,
		AfterSubmit: f.AfterSubmit, AfterURL: f.AfterURL, RequireWeChat: f.RequireWeChat, SMSVerify: f.SMSVerify,
		Published: f.Published}
	vm := h.editVM(c, "编辑表单", fmt.Sprintf("/admin/forms/%d", f.ID), in, h.BaseURL+formPath(f.Slug, "", ""), nil)
	web.Render(c, http.StatusOK, admin.FormEditPage(vm))
}

func (h *formHandler) adminUpdate(c *gin.Context) {
	f, ok := h.loadForm(c)
	if !ok {
		return
	}
	in := readFormInput(c)
	action := fmt.Sprintf("/admin/forms/%d", f.ID)
	if _, err := h.Forms.UpdateFormBy(c.Request.Context(), operator(c), f.ID, in); err != nil {
		h.editFailed(c, "编辑表单", action, in, h.BaseURL+formPath(f.Slug, "", ""), err)
		return
	}
	c.Redirect(http.StatusSeeOther, action+"/edit")
}

func (h *formHandler) editFailed(c *gin.Context, title, action string, in services.FormInput, link string, err error) {
	if services.ErrorCode(err) != services.EINVALID {
		web.Fail(c, err)
		return
	}
	vm := h.editVM(c, title, action, in, link, services.ErrorFields(err))
	vm.Error = services.ErrorMessage(err)
	web.Render(c, http.StatusUnprocessableEntity, admin.FormEditPage(vm))
}

// adminPreview renders the customer page as the person will see it, for a
// published or unpublished form, without a working submit button.
func (h *formHandler) adminPreview(c *gin.Context) {
	f, ok := h.loadForm(c)
	if !ok {
		return
	}
	vm := newFormVM(f, formInput{}, nil, wechatVisitor{})
	vm.Preview = true
	web.Render(c, http.StatusOK, forms.FormPage(vm))
}

func (h *formHandler) loadForm(c *gin.Context) (services.Form, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		web.Fail(c, services.Errorf(services.ENOTFOUND, "表单不存在"))
		return services.Form{}, false
	}
	f, err := h.Forms.FindFormByID(c.Request.Context(), id)
	if err != nil {
		web.Fail(c, err)
		return services.Form{}, false
	}
	return f, true
}

// readFormInput parses the editor: indexed field rows, blank labels dropped.
func readFormInput(c *gin.Context) services.FormInput {
	in := services.FormInput{Title: c.PostForm("title"), CoverURL: strings.TrimSpace(c.PostForm("cover_url")),
		Description: c.PostForm("description"), ConsentText: c.PostForm("consent_text"),
		PrivacyURL: strings.TrimSpace(c.PostForm("privacy_url")), SuccessMessage: c.PostForm("success_message"),
		AfterSubmit: c.PostForm("after_submit"), AfterURL: strings.TrimSpace(c.PostForm("after_url")),
		RequireWeChat: c.PostForm("require_wechat") == "1", SMSVerify: c.PostForm("sms_verify") == "1",
		Published: c.PostForm("published") == "1"}
	for i := 0; i < 40; i++ {
		p := "fields." + strconv.Itoa(i) + "."
		label := strings.TrimSpace(c.PostForm(p + "label"))
		if label == "" {
			continue
		}
		in.Fields = append(in.Fields, services.Field{Kind: services.FieldKind(c.PostForm(p + "kind")), Label: label,
			Required: c.PostForm(p+"required") == "1", Options: strings.Split(c.PostForm(p+"options"), "\n")})
	}
	return in
}

func (h *formHandler) editVM(c *gin.Context, title, action string, in services.FormInput, link string, errs map[string]string) admin.FormEditVM {
	vm := admin.FormEditVM{Shell: adminShell(c, title, "/admin/forms"), Action: action, Title: in.Title,
		CoverURL: in.CoverURL, Description: in.Description, ConsentText: in.ConsentText, PrivacyURL: in.PrivacyURL,
		SuccessMessage: in.SuccessMessage, AfterSubmit: in.AfterSubmit, AfterURL: in.AfterURL,
		RequireWeChat: in.RequireWeChat, SMSVerify: in.SMSVerify, Published: in.Published, Link: link, Errors: errs}
	for _, k := range services.FieldKinds {
		vm.Kinds = append(vm.Kinds, admin.KindOption{Value: string(k.Kind), Label: k.Label})
	}
	for i, f := range in.Fields {
		p := "fields." + strconv.Itoa(i) + "."
		msg := errs[p+"label"] + errs[p+"kind"] + errs[p+"options"]
		vm.Fields = append(vm.Fields, admin.FieldRow{Kind: string(f.Kind), Label: f.Label, Required: f.Required,
			Options: strings.Join(f.Options, "\n"), Error: msg})
	}
	for range blankFieldRows {
		vm.Fields = append(vm.Fields, admin.FieldRow{Kind: string(services.FieldText)})
	}
	return vm
}
