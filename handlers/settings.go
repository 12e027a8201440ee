package handlers

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/settings"
	"github.com/marketing-assistant/assistant/web"
)

// WeComDeps are what the connection surfaces need: settings, callbacks,
// the inbox and, in demo mode, the sandbox shim.
type WeComDeps struct {
	Settings    SettingsStore
	Connections Connections
	Tester      ConnectionTester
	Inbox       CallbackInbox
	InboxAdmin  InboxAdmin
	// WakeInbox nudges the inbox workers after a callback is stored.
	WakeInbox func()
	// BaseURL is the public URL the paste-here values are built from.
	BaseURL string
	// SandboxShim serves the sandbox's ww shim (demo mode only, nil otherwise).
	SandboxShim http.Handler
	// OAReplies answers OA QR code scans with their passive replies; nil: "success".
	OAReplies PassiveReplies
}

// SettingsStore reads and saves the connection settings.
type SettingsStore interface {
	Settings(ctx context.Context) (services.WeComSettings, error)
	UpdateSettings(ctx context.Context, in services.SettingsUpdate, by services.Actor) (services.WeComSettings, error)
}

// ConnectionTester calls an app's real API with the saved settings.
type ConnectionTester interface {
	TestConnection(ctx context.Context, app string) services.ConnectionResult
	Invalidate()
}

// RegisterWeCom installs the callbacks, the sandbox shim (demo mode only)
// and the admin-only settings and inbox pages. It takes the same Deps as
// Register for the admin session.
func RegisterWeCom(e *gin.Engine, deps Deps, d WeComDeps) {
	adm := &adminHandler{accounts: deps.Admins, audit: deps.Audit,
		cookies: web.NewCookies[AdminSession](deps.SessionKey, adminCookieName, adminSessionAge, deps.SecureCookies)}
	registerWeCom(e, e.Group("/admin", adm.requireRole(services.RoleAdmin)), d)
}

// registerWeCom installs the routes; admin is a group that only the admin
// role passes (managers may not change how the app connects).
func registerWeCom(e *gin.Engine, admin *gin.RouterGroup, d WeComDeps) {
	registerCallbacks(e, d)
	if d.SandboxShim != nil {
		e.GET("/sandbox/*file", gin.WrapH(http.StripPrefix("/sandbox", d.SandboxShim)))
		e.POST("/sandbox/*file", gin.WrapH(http.StripPrefix("/sandbox", d.SandboxShim)))
	}
	if d.Settings == nil {
		return
	}
	h := &settingsHandler{store: d.Settings, tester: d.Tester, base: d.BaseURL}
	g := admin
	g.GET("/settings", h.show)
	g.POST("/settings", h.save)
	g.POST("/settings/generate", h.generate)
	g.POST("/settings/test", h.test)
	if d.InboxAdmin != nil {
		ib := &inboxHandler{inbox: d.InboxAdmin}
		g.GET("/inbox", ib.show)
		g.POST("/inbox/:id/retry", ib.retry)
	}
}

func actorOf(c *gin.Context) services.Actor {
	a := currentAdmin(c)
	return services.Actor{Kind: a.Kind, ID: a.ID, IP: c.ClientIP(), Role: a.Role}
}

type settingsHandler struct {
	store  SettingsStore
	tester ConnectionTester
	base   string
}

// page builds the view model from the saved settings, with overrides from
// a failed save or a generate click.
type pageInput struct {
	typed     map[string]string // plain fields as typed
	generated map[string]string // secrets generated just now
	errors    map[string]string
	flash     string
	kind      string
	results   []services.ConnectionResult
}

func (h *settingsHandler) render(c *gin.Context, status int, in pageInput) {
	s, err := h.store.Settings(c.Request.Context())
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := settingsVM(s.View(), h.base, in)
	vm.Shell = adminShell(c, "连接设置", "/admin/settings")
	web.Render(c, status, settings.SettingsPage(vm))
}

func (h *settingsHandler) show(c *gin.Context) {
	in := pageInput{}
	if c.Query("saved") == "1" {
		in.flash, in.kind = "已保存。请在企业微信与公众号后台填入下方内容，然后测试连接。", "success"
	}
	h.render(c, http.StatusOK, in)
}

var plainFields = []string{"corp_id", "app_mode", "agent_id", "oa_app_id", "oa_message_mode", "mp_app_id"}

func (h *settingsHandler) save(c *gin.Context) {
	up := services.SettingsUpdate{
		CorpID: c.PostForm("corp_id"), AppMode: c.PostForm("app_mode"), AgentID: c.PostForm("agent_id"),
		OAAppID: c.PostForm("oa_app_id"), OAMessageMode: c.PostForm("oa_message_mode"), MPAppID: c.PostForm("mp_app_id"),
		Secrets: map[string]string{}, Clear: c.PostFormArray("clear"),
	}
	for _, f := range secretNames {
		up.Secrets[f] = c.PostForm(f)
	}
	_, err := h.store.UpdateSettings(c.Request.Context(), up, actorOf(c))
	if err != nil {
		if services.ErrorCode(err) != services.EINVALID {
			web.Fail(c, err)
			return
		}
		typed := map[string]string{}
		for _, f := range plainFields {
			typed[f] = c.PostForm(f)
		}
		h.render(c, http.StatusUnprocessableEntity, pageInput{typed: typed, errors: services.ErrorFields(err),
			flash: services.ErrorMessage(err) + "（密钥类字段未保存，请重新填写）", kind: "error"})
		return
	}
	if h.tester != nil {
		h.tester.Invalidate()
	}
	c.Redirect(http.StatusSeeOther, "/admin/settings?saved=1")
}

// generate re-renders the form with a fresh token or EncodingAESKey in the
// clicked field; nothing is saved until "保存".
func (h *settingsHandler) generate(c *gin.Context) {
	name := c.PostForm("generate")
	gen := map[string]string{}
	switch name {
	case "callback_aes_key", "oa_aes_key":
		gen[name] = services.GenerateAESKey()
	case "callback_token", "oa_token":
		gen[name] = services.GenerateToken()
	default:
		web.Fail(c, services.Errorf(services.EINVALID, "无法生成该字段"))
		return
	}
	typed := map[string]string{}
	for _, f := range plainFields {
		typed[f] = c.PostForm(f)
	}
	h.render(c, http.StatusOK, pageInput{typed: typed, generated: gen,
		flash: "已生成新值，点击「保存」后生效，并请同时填入企业微信 / 公众号后台。", kind: "warn"})
}

func (h *settingsHandler) test(c *gin.Context) {
	app := c.PostForm("app")
	if h.tester == nil || (app != services.AppWeCom && app != services.AppOA && app != services.AppMP) {
		web.Fail(c, services.Errorf(services.EINVALID, "未知的应用"))
		return
	}
	res := h.tester.TestConnection(c.Request.Context(), app)
	h.render(c, http.StatusOK, pageInput{results: []services.ConnectionResult{res}})
}

// pasteHost is the host of the base URL: the OAuth trusted domain.
func pasteHost(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Host
}
