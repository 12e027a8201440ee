package handlers

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/web"
)

// oauthState binds a WeCom OAuth round trip to the browser that started it
// (the state parameter must come back to the same browser) and keeps where
// to go afterwards.
type oauthState struct {
	State string `json:"s"`
	Next  string `json:"n"`
	// Method is how the round trip started (signInWeComOAuth or
	// signInWeComQR), for the audit log; both end in the same callback.
	Method string `json:"m,omitempty"`
}

// WeCom sign-in methods, as the audit log records them.
const (
	signInWeComOAuth = "wecom_oauth"
	signInWeComQR    = "wecom_qr" // admin_wecom_qrlogin.go
)

const (
	oauthStateCookie = "ma_admin_oauth"
	oauthStateAge    = 10 * time.Minute
)

// wecomLogin starts WeCom sign-in (OAuth snsapi_base: silent inside the
// WeCom browser, a picker in the sandbox).
func (h *consoleHandler) wecomLogin(c *gin.Context) {
	client, st, ok := h.beginWeComSignIn(c, signInWeComOAuth)
	if !ok {
		return
	}
	c.Redirect(http.StatusFound, client.AuthorizeURL(h.wecomCallbackURL(), st.State, wecom.ScopeBase))
}

// beginWeComSignIn binds a new WeCom sign-in round trip to this browser (the
// state cookie) and returns the client to build the WeCom URL with; on false
// the answer has been sent.
func (h *consoleHandler) beginWeComSignIn(c *gin.Context, method string) (*wecom.Client, oauthState, bool) {
	if h.WeChat == nil {
		web.Fail(c, services.Errorf(services.EUNAVAILABLE, "尚未连接企业微信，请使用本地管理员账号登录"))
		return nil, oauthState{}, false
	}
	client, err := h.WeChat.WeChat(c.Request.Context())
	if err != nil {
		web.Fail(c, err)
		return nil, oauthState{}, false
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	st := oauthState{State: hex.EncodeToString(b[:]), Next: safeNext(c.Query("next")), Method: method}
	if err := h.state.Write(c, st); err != nil {
		web.Fail(c, fmt.Errorf("admin: write oauth state: %w", err))
		return nil, oauthState{}, false
	}
	return client, st, true
}

// wecomCallbackURL is where both WeCom sign-in methods come back to.
func (h *consoleHandler) wecomCallbackURL() string {
	return strings.TrimRight(h.BaseURL, "/") + "/admin/login/wecom/callback"
}

// wecomCallback finishes WeCom sign-in: the code names the employee, and
// staff_roles decides whether they may use the console.
func (h *consoleHandler) wecomCallback(c *gin.Context) {
	st, ok := h.state.Read(c)
	h.state.Clear(c)
	if !ok || subtle.ConstantTimeCompare([]byte(st.State), []byte(c.Query("state"))) != 1 {
		web.Fail(c, services.Errorf(services.EUNAUTHORIZED, "登录已过期，请重新登录"))
		return
	}
	if c.Query("code") == "" {
		web.Fail(c, services.Errorf(services.EUNAUTHORIZED, "未获得企业微信授权"))
		return
	}
	m, err := h.staffFromCode(c, c.Query("code"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	entry := services.AuditEntry{ActorKind: "wecom", ActorID: m.UserID, Action: "sign_in", IP: c.ClientIP(),
		Detail: map[string]any{"method": cmp.Or(st.Method, signInWeComOAuth), "role": m.Role}}
	if m.Role != services.RoleAdmin && m.Role != services.RoleManager {
		entry.Action = "sign_in_refused"
		_ = h.audit.Record(c.Request.Context(), entry)
		web.Fail(c, services.Errorf(services.EFORBIDDEN, "你的角色无权使用管理后台，请联系管理员"))
		return
	}
	s := AdminSession{Kind: "wecom", ID: m.CorpID + "/" + m.UserID, IssuedAt: time.Now().Unix()}
	if err := h.cookies.Write(c, s); err != nil {
		web.Fail(c, fmt.Errorf("admin: write session: %w", err))
		return
	}
	if err := h.audit.Record(c.Request.Context(), entry); err != nil {
		web.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, safeNext(st.Next))
}

func (h *consoleHandler) staffFromCode(c *gin.Context, code string) (services.StaffMember, error) {
	ctx := c.Request.Context()
	client, err := h.WeChat.WeChat(ctx)
	if err != nil {
		return services.StaffMember{}, err
	}
	who, err := client.UserIDFromOAuthCode(ctx, code)
	if wecom.IsAPIError(err, 40029, 40163) {
		return services.StaffMember{}, services.Errorf(services.EUNAUTHORIZED, "授权码无效或已过期，请重新登录")
	}
	if err != nil {
		return services.StaffMember{}, fmt.Errorf("admin: wecom oauth: %w", err)
	}
	if who.UserID == "" {
		return services.StaffMember{}, services.Errorf(services.EFORBIDDEN, "只有企业成员可以登录管理后台")
	}
	corp, err := h.Staff.CorpID(ctx)
	if err != nil {
		return services.StaffMember{}, err
	}
	m, err := h.Staff.StaffMember(ctx, corp, who.UserID)
	if services.ErrorCode(err) == services.ENOTFOUND {
		return m, services.Errorf(services.EFORBIDDEN, "你已不在企业通讯录中")
	}
	return m, err
}
