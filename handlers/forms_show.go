package handlers

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"
	"rsc.io/qr"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/views/forms"
	"github.com/marketing-assistant/assistant/web"
)

// show is GET /f/:slug. Inside WeChat it first learns the visitor's openid
// (silent snsapi_base), and when the form needs a unionid that the Official
// Account does not know, asks for snsapi_userinfo. Outside WeChat the form
// works with the phone only, unless it requires WeChat identity.
func (h *formHandler) show(c *gin.Context) {
	f, err := h.Forms.FindPublishedForm(c.Request.Context(), c.Param("slug"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	v, _ := h.wx.Read(c)
	if !inWeChat(c) {
		if f.RequireWeChat {
			h.openInWeChat(c, f)
			return
		}
		v = wechatVisitor{}
	} else if scope := oauthScope(f, v); scope != "" {
		h.startOAuth(c, f, scope)
		return
	} else if f.RequireWeChat && v.UnionID == "" {
		h.authProblem(c, f, http.StatusForbidden, "未能获取你的微信身份（unionid）。请确认已同意授权后重试。", "")
		return
	}
	if v.OpenID != "" {
		if err := h.Submissions.RecordView(c.Request.Context(), f, services.FormView{OAAppID: v.AppID,
			OAOpenID: v.OpenID, UnionID: v.UnionID, Attribution: c.Query("a")}); err != nil {
			web.Logger(c).Warn("form view not recorded", "form_id", f.ID, "err", err)
		}
	}
	vm := newFormVM(f, formInput{}, nil, v)
	vm.Hidden = hiddenParams(c.Request.URL.Query())
	web.Render(c, http.StatusOK, forms.FormPage(vm))
}

// oauthScope returns the OAuth scope the visitor still needs, or "".
func oauthScope(f services.Form, v wechatVisitor) string {
	switch {
	case v.Skipped && !f.RequireWeChat:
		return ""
	case v.OpenID == "":
		return wecom.ScopeBase
	case f.RequireWeChat && v.UnionID == "" && !v.UserInfo:
		return wecom.ScopeUserInfo
	}
	return ""
}

// startOAuth sends the visitor to WeChat with a fresh state bound to their
// browser. When WeChat is not connected, a form that does not need it is
// shown without; one that does gets the "not connected" page.
func (h *formHandler) startOAuth(c *gin.Context, f services.Form, scope string) {
	cl, err := h.WeChat.WeChat(c.Request.Context())
	if err == nil && cl.AppIDs().OAAppID == "" {
		err = services.Errorf(services.EUNAVAILABLE, "尚未连接公众号，请管理员在设置页完成配置")
	}
	if err != nil {
		if f.RequireWeChat {
			web.Fail(c, err)
			return
		}
		vm := newFormVM(f, formInput{}, nil, wechatVisitor{})
		vm.Hidden = hiddenParams(c.Request.URL.Query())
		web.Render(c, http.StatusOK, forms.FormPage(vm))
		return
	}
	p := oauthPending{State: randomToken(oauthStateBytes), Slug: f.Slug, Query: formQuery(c.Request.URL.Query()), Scope: scope}
	if err := h.pending.Write(c, p); err != nil {
		web.Fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, cl.OAAuthorizeURL(h.BaseURL+formPath(f.Slug, "/oauth", ""), p.State, scope))
}

// openInWeChat asks a visitor outside WeChat to open the link in WeChat,
// with a QR code of it made here (no third-party image service).
func (h *formHandler) openInWeChat(c *gin.Context, f services.Form) {
	link := h.BaseURL + formPath(f.Slug, "", formQuery(c.Request.URL.Query()))
	vm := forms.OpenInWeChatVM{Title: f.Title, Link: link}
	if code, err := qr.Encode(link, qr.M); err == nil {
		code.Scale = 6
		vm.QRImage = "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG())
	}
	web.Render(c, http.StatusOK, forms.OpenInWeChatPage(vm))
}

func (h *formHandler) authProblem(c *gin.Context, f services.Form, status int, msg, query string) {
	vm := forms.AuthProblemVM{Title: f.Title, Message: msg, RetryURL: formPath(f.Slug, "/retry", query)}
	if !f.RequireWeChat {
		vm.SkipURL = formPath(f.Slug, "/skip", query)
	}
	web.Render(c, status, forms.AuthProblemPage(vm))
}

// skipWeChat is the "continue without authorising" link.
func (h *formHandler) skipWeChat(c *gin.Context) {
	if err := h.wx.Write(c, wechatVisitor{Skipped: true}); err != nil {
		web.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, formPath(c.Param("slug"), "", formQuery(c.Request.URL.Query())))
}

// retryWeChat forgets what OAuth gave and starts over.
func (h *formHandler) retryWeChat(c *gin.Context) {
	h.wx.Clear(c)
	c.Redirect(http.StatusSeeOther, formPath(c.Param("slug"), "", formQuery(c.Request.URL.Query())))
}

// hiddenParams carries the attribution token and UTM parameters into the POST.
func hiddenParams(q url.Values) []forms.Param {
	var out []forms.Param
	keep, _ := url.ParseQuery(formQuery(q))
	if a := keep.Get("a"); a != "" {
		out = append(out, forms.Param{Name: "a", Value: a})
	}
	for _, k := range services.UTMKeys {
		if v := keep.Get(k); v != "" {
			out = append(out, forms.Param{Name: k, Value: v})
		}
	}
	return out
}

// formInput is what the person typed, to re-show after an error.
type formInput struct {
	Answers map[string][]string
	Phone   string
	SMSCode string
	Consent bool
	Token   string
}

// newFormVM builds the page's view model from the form, what was typed and
// the per-field errors.
func newFormVM(f services.Form, in formInput, errs map[string]string, v wechatVisitor) forms.FormVM {
	vm := forms.FormVM{Title: f.Title, CoverURL: f.CoverURL, Description: f.Description,
		Action: formPath(f.Slug, "", ""), Phone: in.Phone, PhoneError: errs["phone"], SMSCode: in.SMSCode,
		SMSError: errs["sms_code"], Consent: in.Consent, ConsentError: errs["consent"], ConsentText: f.ConsentText,
		PrivacyURL: f.PrivacyURL, ConsentVersion: f.ConsentVersion, Token: in.Token, FormError: errs["form"]}
	if vm.Token == "" {
		vm.Token = randomToken(22)
	}
	if f.SMSVerify {
		vm.SMSAction = formPath(f.Slug, "/sms", "")
	}
	if v.OpenID != "" {
		vm.WeChatNote = "已通过微信识别你的身份，提交后顾问可以更好地为你服务。"
	}
	for i, fl := range f.Fields {
		vm.Fields = append(vm.Fields, fieldVM(i, fl, in.Answers[fl.Key], errs[fl.Key]))
	}
	return vm
}

func fieldVM(i int, f services.Field, vals []string, errMsg string) forms.FieldVM {
	fv := forms.FieldVM{Name: "f." + f.Key, ID: "f-" + strconv.Itoa(i), Label: f.Label, Kind: string(f.Kind),
		Required: f.Required, Error: errMsg, InputType: "text", MaxLen: 200}
	if len(vals) > 0 {
		fv.Value = vals[0]
	}
	switch f.Kind {
	case services.FieldEmail:
		fv.InputType, fv.MaxLen = "email", 254
	case services.FieldText:
		fv.Multiline, fv.MaxLen = true, 500
	}
	picked := map[string]bool{}
	for _, v := range vals {
		picked[v] = true
	}
	for _, o := range f.Options {
		fv.Options = append(fv.Options, forms.Option{Value: o, Checked: picked[o]})
	}
	return fv
}
