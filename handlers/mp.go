package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/web"
)

// mpBodyLimit bounds a mini program request body.
const mpBodyLimit = 64 << 10

const keyMPSession = "handlers.mp_session"

// registerMP installs the mini program API: JSON in, JSON or problem+json out.
func (h *formHandler) registerMP(e *gin.Engine, limited gin.HandlerFunc) {
	g := e.Group("/api/mp", web.API(), limited)
	g.POST("/session", h.mpSession)
	g.POST("/phone", h.mpAuth, h.mpPhone)
	g.POST("/forms/:slug/submissions", h.mpAuth, h.mpSubmit)
}

// bindJSON decodes a small JSON body into v. Errors: ETOOLARGE, EINVALID.
func bindJSON(c *gin.Context, v any) error {
	if c.Request.ContentLength > mpBodyLimit {
		return services.Errorf(services.ETOOLARGE, "请求内容过大")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, mpBodyLimit))
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return services.Errorf(services.ETOOLARGE, "请求内容过大")
		}
		return services.Errorf(services.EINVALID, "请求体不是有效的 JSON")
	}
	return nil
}

type mpCodeRequest struct {
	Code string `json:"code"`
}

// mpCodeError maps a WeChat answer to a code exchange onto an API error.
func mpCodeError(err error) error {
	switch {
	case services.ErrorCode(err) == services.EUNAVAILABLE:
		return err
	case wecom.IsAPIError(err, 40029, 40163, 40226):
		return services.Invalid("code 无效或已被使用", map[string]string{"code": "无效或已被使用，请重新获取"})
	}
	return &services.Error{Code: services.EUNAVAILABLE, Message: "微信暂时无法完成登录，请稍后再试"}
}

// mpSession is POST /api/mp/session {code}: jscode2session, then a session
// token (the session_key never leaves the adapter).
func (h *formHandler) mpSession(c *gin.Context) {
	var req mpCodeRequest
	if err := bindJSON(c, &req); err != nil {
		web.Fail(c, err)
		return
	}
	if strings.TrimSpace(req.Code) == "" || len(req.Code) > 256 {
		web.Fail(c, services.Invalid("缺少 code", map[string]string{"code": "必填"}))
		return
	}
	ctx := c.Request.Context()
	cl, err := h.WeChat.WeChat(ctx)
	if err == nil && cl.AppIDs().MPAppID == "" {
		err = services.Errorf(services.EUNAVAILABLE, "尚未连接小程序，请管理员在设置页完成配置")
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	s, err := cl.MPCodeToSession(ctx, req.Code)
	if err != nil {
		web.Logger(c).Warn("mp login failed", "err", err)
		web.Fail(c, mpCodeError(err))
		return
	}
	token, sess, err := h.Submissions.StartMPSession(ctx, cl.AppIDs().MPAppID, s.OpenID, s.UnionID)
	if err != nil {
		web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"token": token, "expires_in": int64(86400), "has_unionid": sess.UnionID != ""})
}

// mpAuth reads the Bearer session token.
func (h *formHandler) mpAuth(c *gin.Context) {
	token, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	sess, err := h.Submissions.OpenMPSession(strings.TrimSpace(token))
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="mp"`)
		web.Fail(c, err)
		c.Abort()
		return
	}
	c.Set(keyMPSession, sess)
	c.Next()
}

func mpSessionOf(c *gin.Context) services.MPSession {
	v, _ := c.Get(keyMPSession)
	s, _ := v.(services.MPSession)
	return s
}

// mpPhone is POST /api/mp/phone {code}: getuserphonenumber, then the
// verified phone is linked and carried by a new session token.
func (h *formHandler) mpPhone(c *gin.Context) {
	var req mpCodeRequest
	if err := bindJSON(c, &req); err != nil {
		web.Fail(c, err)
		return
	}
	ctx := c.Request.Context()
	cl, err := h.WeChat.WeChat(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	p, err := cl.MPPhoneNumber(ctx, req.Code)
	if err != nil {
		web.Logger(c).Warn("mp phone failed", "err", err)
		web.Fail(c, mpCodeError(err))
		return
	}
	phone := p.PurePhoneNumber
	if p.CountryCode != "" && p.CountryCode != "86" {
		phone = "+" + p.CountryCode + p.PurePhoneNumber
	}
	token, sess, err := h.Submissions.AddMPPhone(ctx, mpSessionOf(c), phone)
	if err != nil {
		web.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"token": token, "phone": services.MaskPhone(sess.Phone), "verified": true})
}

// mpSubmission is the JSON body of a mini program submission. Answers map
// field keys to a string or a list of strings.
type mpSubmission struct {
	Answers        map[string]json.RawMessage `json:"answers"`
	Phone          string                     `json:"phone"`
	Consent        bool                       `json:"consent"`
	ConsentVersion int                        `json:"consent_version"`
	RequestID      string                     `json:"request_id"`
	Attribution    string                     `json:"attribution"`
	UTM            map[string]string          `json:"utm"`
}

// mpSubmit is POST /api/mp/forms/:slug/submissions. The phone verified in
// the session wins; a typed one is stored unverified. request_id (or the
// Idempotency-Key header) makes retries return the first answer.
func (h *formHandler) mpSubmit(c *gin.Context) {
	var req mpSubmission
	if err := bindJSON(c, &req); err != nil {
		web.Fail(c, err)
		return
	}
	sess := mpSessionOf(c)
	in := services.SubmissionInput{Answers: map[string][]string{}, Phone: req.Phone, Consent: req.Consent,
		ConsentVersion: req.ConsentVersion, Token: req.RequestID, Attribution: req.Attribution, UTM: req.UTM,
		MPAppID: sess.AppID, MPOpenID: sess.OpenID, UnionID: sess.UnionID, Source: services.SourceMP, IP: c.ClientIP()}
	if in.Token == "" {
		in.Token = c.GetHeader("Idempotency-Key")
	}
	if sess.Phone != "" && (in.Phone == "" || sameNumber(in.Phone, sess.Phone)) {
		in.Phone, in.PhoneVerified = sess.Phone, true
	}
	for k, raw := range req.Answers {
		var one string
		var many []string
		if json.Unmarshal(raw, &one) == nil {
			in.Answers[k] = []string{one}
		} else if json.Unmarshal(raw, &many) == nil {
			in.Answers[k] = many
		}
	}
	sub, err := h.Submissions.Submit(c.Request.Context(), c.Param("slug"), in)
	if err != nil {
		web.Fail(c, err)
		return
	}
	status := http.StatusCreated
	if sub.Duplicate {
		status = http.StatusOK
	}
	c.JSON(status, gin.H{"id": sub.PublicID, "duplicate": sub.Duplicate, "phone_verified": sub.PhoneVerified})
}

func sameNumber(typed, e164 string) bool {
	n, err := services.MainlandMobile(typed)
	return err == nil && n == e164
}
