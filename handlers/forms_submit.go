package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/forms"
	"github.com/marketing-assistant/assistant/web"
)

// parseForm reads a form POST under formBodyLimit; an oversized body is
// ETOOLARGE (413), before anything is parsed or stored.
func parseForm(c *gin.Context) error {
	if c.Request.ContentLength > formBodyLimit {
		return services.Errorf(services.ETOOLARGE, "提交内容过大")
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, formBodyLimit)
	if err := c.Request.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return services.Errorf(services.ETOOLARGE, "提交内容过大")
		}
		return services.Errorf(services.EINVALID, "提交内容无法解析")
	}
	return nil
}

// readInput collects what the person typed.
func readInput(c *gin.Context, f services.Form) formInput {
	in := formInput{Answers: map[string][]string{}, Phone: c.PostForm("phone"), SMSCode: c.PostForm("sms_code"),
		Consent: c.PostForm("consent") == "1", Token: c.PostForm("t")}
	for _, fl := range f.Fields {
		if vals := c.PostFormArray("f." + fl.Key); len(vals) > 0 {
			in.Answers[fl.Key] = vals
		}
	}
	return in
}

// submit is POST /f/:slug: PRG on success (303 to the done page; htmx gets
// HX-Redirect), the form again with the errors in place on 422.
func (h *formHandler) submit(c *gin.Context) {
	if err := parseForm(c); err != nil {
		web.Fail(c, err)
		return
	}
	f, err := h.Forms.FindPublishedForm(c.Request.Context(), c.Param("slug"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	v, _ := h.wx.Read(c)
	if !inWeChat(c) {
		v = wechatVisitor{}
	}
	in := readInput(c, f)
	cv, _ := strconv.Atoi(c.PostForm("cv"))
	utm := map[string]string{}
	for _, k := range services.UTMKeys {
		utm[k] = c.PostForm(k)
	}
	sub, err := h.Submissions.Submit(c.Request.Context(), f.Slug, services.SubmissionInput{
		Answers: in.Answers, Phone: in.Phone, Consent: in.Consent, ConsentVersion: cv, Token: in.Token,
		Attribution: c.PostForm("a"), UTM: utm, OAAppID: v.AppID, OAOpenID: v.OpenID, UnionID: v.UnionID,
		SMSCode: in.SMSCode, IP: c.ClientIP()})
	if err != nil {
		h.renderFormError(c, f, in, v, err)
		return
	}
	to := formPath(f.Slug, "/done", "s="+sub.PublicID)
	if web.IsHTMX(c) {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusOK)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

// renderFormError shows the form again with what was typed: 422 for field
// errors, 429 for rate limits (422 under htmx, which swaps only 422).
func (h *formHandler) renderFormError(c *gin.Context, f services.Form, in formInput, v wechatVisitor, err error) {
	code := services.ErrorCode(err)
	if code != services.EINVALID && code != services.ERATELIMIT {
		web.Fail(c, err)
		return
	}
	errs := services.ErrorFields(err)
	if errs == nil {
		errs = map[string]string{}
	}
	if code == services.ERATELIMIT {
		errs["form"] = services.ErrorMessage(err)
	}
	vm := newFormVM(f, in, errs, v)
	vm.Hidden = hiddenFromPost(c)
	status := web.Status(code)
	if web.IsHTMX(c) {
		web.Render(c, http.StatusUnprocessableEntity, forms.FormPage(vm), forms.FormFragment)
		return
	}
	web.Render(c, status, forms.FormPage(vm))
}

func hiddenFromPost(c *gin.Context) []forms.Param {
	return hiddenParams(c.Request.PostForm)
}

// sendSMS is POST /f/:slug/sms (the "get code" button, a submit button
// with its own formaction): it sends the code and shows the form again with
// everything typed so far.
func (h *formHandler) sendSMS(c *gin.Context) {
	if err := parseForm(c); err != nil {
		web.Fail(c, err)
		return
	}
	f, err := h.Forms.FindPublishedForm(c.Request.Context(), c.Param("slug"))
	if err != nil || !f.SMSVerify || h.SMS == nil {
		web.Fail(c, services.Errorf(services.ENOTFOUND, "该表单不需要短信验证"))
		return
	}
	v, _ := h.wx.Read(c)
	in := readInput(c, f)
	if err := h.SMS.SendCode(c.Request.Context(), in.Phone, services.SMSPurpose(f)); err != nil {
		if services.ErrorCode(err) == services.EINTERNAL {
			web.Fail(c, err)
			return
		}
		errs := map[string]string{"sms_code": services.ErrorMessage(err)}
		if p := services.ErrorFields(err)["phone"]; p != "" {
			errs = map[string]string{"phone": p}
		}
		h.renderFormError(c, f, in, v, services.Invalid("", errs))
		return
	}
	vm := newFormVM(f, in, nil, v)
	vm.Hidden, vm.SMSNotice = hiddenFromPost(c), "验证码已发送，5 分钟内有效"
	frag := []any{}
	if web.IsHTMX(c) {
		frag = append(frag, forms.FormFragment)
	}
	web.Render(c, http.StatusOK, forms.FormPage(vm), frag...)
}

// done is GET /f/:slug/done?s=…, the GET of PRG: the success message, then
// the attributed employee's contact QR code or a link to continue.
func (h *formHandler) done(c *gin.Context) {
	ctx := c.Request.Context()
	f, err := h.Forms.FindPublishedForm(ctx, c.Param("slug"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	sub, err := h.Submissions.FindSubmission(ctx, f.ID, c.Query("s"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := forms.DoneVM{Title: f.Title, Message: f.SuccessMessage}
	if vm.Message == "" {
		vm.Message = "感谢你的报名，我们会尽快与你联系。"
	}
	switch {
	case f.AfterSubmit == services.AfterEmployeeQR && sub.EmployeeUserID != "":
		vm.ContactQR = h.contactQR(c, f, sub.EmployeeUserID)
		vm.QRNote = "长按识别二维码，添加你的专属顾问"
	case f.AfterSubmit == services.AfterURL:
		if ok, err := h.Forms.RedirectAllowed(ctx, f.AfterURL); err == nil && ok {
			vm.NextURL = f.AfterURL
		}
	}
	web.Render(c, http.StatusOK, forms.DonePage(vm))
}

// contactQR returns the employee's contact QR, or "" when WeCom is not
// connected or refuses (the page still thanks the person).
func (h *formHandler) contactQR(c *gin.Context, f services.Form, employee string) string {
	cl, err := h.WeChat.WeChat(c.Request.Context())
	if err != nil {
		return ""
	}
	qr, err := h.Forms.ContactQR(c.Request.Context(), cl, f, employee)
	if err != nil {
		web.Logger(c).Warn("contact qr unavailable", "form_id", f.ID, "err", err)
		return ""
	}
	return qr
}
