// Package handlers translates HTTP into service calls and view models.
//
// Each surface has its own handler type and route registration; Register
// installs them all on the engine. Handlers parse input, call one service
// method, map its error and render a view. They hold no SQL and no rules.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

// Assets is the embedded static file table.
type Assets interface {
	layout.AssetPaths
	Handler() http.Handler
}

// Pinger reports whether the database answers.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Deps are what the handlers need, built by cmd/assistant.
type Deps struct {
	Log     *slog.Logger
	Version string
	Assets  Assets
	DB      Pinger
	// Landing lists extra surfaces on the landing page (e.g. the sandbox console).
	Landing []LandingLink
	// SessionKey signs and encrypts the session cookies; SecureCookies marks
	// them Secure (BASE_URL is https).
	SessionKey    []byte
	SecureCookies bool
	Admins        AdminAccounts
	Audit         AuditLog
	// Console holds the admin console's services (admin_console.go).
	Console ConsoleDeps
	// Forms serves the registration forms, their admin pages and the
	// mini-program API (forms.go); a nil Forms.Forms leaves them out.
	Forms FormDeps
	// Identities and APIKeys serve the CRM API under /api/v1 (both or neither).
	Identities IdentityAPI
	APIKeys    APIKeys
	// Sidebar wires the WeCom chat sidebar (sidebar.go); zero leaves it out.
	Sidebar SidebarDeps
	// Sync wires the sync and channel QR code pages (sync.go); zero leaves them out.
	Sync SyncDeps
}

// LandingLink is one extra entry for the landing page.
type LandingLink struct{ Title, Description, URL string }

// Register installs every route on e.
func Register(e *gin.Engine, d Deps) {
	e.GET("/static/*file", gin.WrapH(d.Assets.Handler()))
	e.HEAD("/static/*file", gin.WrapH(d.Assets.Handler()))
	health := &healthHandler{db: d.DB}
	e.GET("/healthz", health.live)
	e.GET("/readyz", health.ready)
	home := &homeHandler{version: d.Version, extra: d.Landing}
	e.GET("/", home.landing)
	adm := registerAdmin(e, d)
	registerConsole(e, adm, d)
	registerForms(e, adm, d)
	registerSync(adm, d.Sync)
	if d.Identities != nil && d.APIKeys != nil {
		registerAPI(e, d.Identities, d.APIKeys)
	}
	registerSidebar(e, d)
}

// registerAdmin installs sign-in and the admin console and returns the group
// (admins and managers only) that admin features add their routes to.
func registerAdmin(e *gin.Engine, d Deps) *gin.RouterGroup {
	adm := &adminHandler{accounts: d.Admins, audit: d.Audit, wecom: d.Console.WeChat,
		cookies: web.NewCookies[AdminSession](d.SessionKey, adminCookieName, adminSessionAge, d.SecureCookies)}
	loginLimit := web.NewLimiter(6*time.Second, 10) // 10 attempts at once, then 10 a minute per IP
	e.GET("/admin/login", adm.loginPage)
	e.POST("/admin/login", web.LimitByIP(loginLimit, "登录尝试太频繁，请一分钟后再试"), adm.login)
	e.POST("/admin/logout", adm.logout)
	return e.Group("/admin", adm.requireRole(services.RoleAdmin, services.RoleManager))
}
