package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/sidebar"
	"github.com/marketing-assistant/assistant/web"
)

// show is GET /sidebar: outside WeCom an explanation, without a session
// the WeCom OAuth round trip, otherwise the shell that registers the
// JS-SDK.
func (h *sidebarHandler) show(c *gin.Context) {
	if h.shimURL == "" && !isWeComClient(c.Request.UserAgent()) {
		h.problem(c, http.StatusForbidden, problemFor(causeNotWeCom, ""))
		return
	}
	v, ok := h.session(c)
	if !ok {
		h.startOAuth(c)
		return
	}
	app := appOf(c)
	vm := sidebar.PageVM{CorpID: app.CorpID, AgentID: app.AgentID, UserName: v.UserID, ShimURL: h.shimURL,
		ConfigURL: "/sidebar/jssdk/config", AgentURL: "/sidebar/jssdk/agent"}
	for _, cause := range browserProblems {
		vm.Problems = append(vm.Problems, problemFor(cause, ""))
	}
	scripts := []string{static.WeComJSSDK, "js/sidebar.js"}
	if h.shimURL != "" {
		scripts = scripts[1:]
	}
	web.Render(c, http.StatusOK, sidebar.Page(vm, scripts))
}

// isWeComClient reports the WeCom built-in browser (mobile and desktop
// clients carry "wxwork" in the user agent).
func isWeComClient(ua string) bool { return strings.Contains(strings.ToLower(ua), "wxwork") }

// startOAuth sends the browser through WeCom OAuth (snsapi_base: silent
// inside WeCom), bound to this browser by a random state in a short-lived
// cookie.
func (h *sidebarHandler) startOAuth(c *gin.Context) {
	cl, ok := h.client(c)
	if !ok {
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	state := hex.EncodeToString(b[:])
	if err := h.oauth.Write(c, staffOAuth{State: state, Next: "/sidebar"}); err != nil {
		web.Fail(c, fmt.Errorf("sidebar: oauth cookie: %w", err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, cl.AuthorizeURL(h.baseURL+"/sidebar/oauth", state, wecom.ScopeBase))
}

// oauthCallback exchanges the code for the employee's userid, checks the
// employee is inside the app's visible range (user/get) and opens the
// session.
func (h *sidebarHandler) oauthCallback(c *gin.Context) {
	st, ok := h.oauth.Read(c)
	h.oauth.Clear(c)
	if !ok || st.State == "" || c.Query("state") != st.State {
		h.problem(c, http.StatusBadRequest, problemFor(causeSignIn, "登录请求已过期或不是从本页发起的。"))
		return
	}
	if c.Query("code") == "" {
		h.problem(c, http.StatusForbidden, problemFor(causeSignIn, "企业微信没有返回登录码（可能拒绝了授权）。"))
		return
	}
	cl, ok := h.client(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	who, err := cl.UserIDFromOAuthCode(ctx, c.Query("code"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if who.UserID == "" {
		h.problem(c, http.StatusForbidden, problemFor(causeNotMember, ""))
		return
	}
	// user/get answers 60011 for a member outside the app's visible range.
	u, err := cl.GetUser(ctx, who.UserID)
	if err == nil {
		err = h.svc.StaffSignedIn(ctx, appOf(c).CorpID, u)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.staff.Write(c, StaffSession{UserID: who.UserID, IssuedAt: h.now().Unix()}); err != nil {
		web.Fail(c, fmt.Errorf("sidebar: session cookie: %w", err))
		return
	}
	c.Redirect(http.StatusSeeOther, st.Next)
}
