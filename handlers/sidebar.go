package handlers

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/views/sidebar"
	"github.com/marketing-assistant/assistant/web"
)

// SidebarService is what the sidebar needs of the services.
type SidebarService interface {
	Profile(ctx context.Context, v services.Viewer, ext string, kinds []services.MomentKind) (services.SidebarProfile, error)
	Timeline(ctx context.Context, v services.Viewer, ext string, q services.TimelineQuery) (services.SidebarTimeline, error)
	ImportContact(ctx context.Context, v services.Viewer, ext string, api services.SidebarWeCom) error
	Tags(ctx context.Context, v services.Viewer, ext string, api services.SidebarWeCom) ([]services.SidebarTagGroup, error)
	ToggleTag(ctx context.Context, v services.Viewer, ext, tagID string, on bool, api services.SidebarWeCom) ([]services.SidebarTagGroup, error)
	RevealPhone(ctx context.Context, v services.Viewer, ext string, identityID int64, ip string) (string, error)
	ConvertToCRM(ctx context.Context, v services.Viewer, ext string, in services.CRMInput) (services.CRMRecord, error)
	Group(ctx context.Context, v services.Viewer, chatID string, api services.SidebarWeCom) (services.SidebarGroup, error)
	StaffSignedIn(ctx context.Context, corpID string, u wecom.User) error
}

// SidebarMaterials lists what an employee can send into the chat, with
// links attributed to them and the chat's customer, and records sends.
type SidebarMaterials interface {
	Materials(ctx context.Context, v services.Viewer, ext string) ([]services.SidebarMaterial, error)
	RecordMaterialSent(ctx context.Context, v services.Viewer, ext, materialID string) error
}

// SidebarTasks lists the employee's open promotion tasks; the materials
// service offers it when the tasks feature is wired in.
type SidebarTasks interface {
	HasTasks() bool
	Tasks(ctx context.Context, v services.Viewer, ext string) ([]services.SidebarTask, error)
}

// WeComApp names the connected WeCom app for ww.register.
type WeComApp struct {
	CorpID  string
	AgentID int
}

// SidebarDeps wire the sidebar; without a Service it is not installed.
type SidebarDeps struct {
	Service SidebarService
	WeChat  WeChatClients
	// App returns the connected app (settings can change while running);
	// EUNAVAILABLE when nothing is connected.
	App func(ctx context.Context) (WeComApp, error)
	// Materials is optional: without it the Materials tab is not shown.
	Materials SidebarMaterials
	// BaseURL is the app's public URL: OAuth comes back to it and only
	// pages under it are signed.
	BaseURL string
	// ShimURL, in sandbox mode, is the ww shim loaded instead of the real
	// SDK; it also lets a normal browser open the sidebar.
	ShimURL string
}

// StaffSession is what the ma_staff cookie carries: the WeCom userid from
// OAuth and when it was issued. Nothing else is trusted from the browser.
type StaffSession struct {
	UserID   string `json:"u"`
	IssuedAt int64  `json:"t"`
}

// staffOAuth is the short-lived cookie binding an OAuth round trip to this
// browser (state) and where to go back.
type staffOAuth struct {
	State string `json:"s"`
	Next  string `json:"n"`
}

const (
	staffCookieName = "ma_staff"
	staffSessionAge = 8 * time.Hour
	staffOAuthName  = "ma_staff_oauth"
	staffOAuthAge   = 10 * time.Minute
	keyViewer       = "handlers.viewer"
	keyWeComApp     = "handlers.wecom_app"
)

type sidebarHandler struct {
	svc       SidebarService
	wechat    WeChatClients
	app       func(ctx context.Context) (WeComApp, error)
	materials SidebarMaterials
	tasks     SidebarTasks // nil: no Tasks tab
	baseURL   string
	shimURL   string
	staff     *web.Cookies[StaffSession]
	oauth     *web.Cookies[staffOAuth]
	// imports bounds live externalcontact/get calls per employee, so that
	// guessing ids cannot turn the sidebar into a WeCom API pump.
	imports *web.Limiter
	now     func() time.Time
}

func newSidebarHandler(d Deps) *sidebarHandler {
	s := d.Sidebar
	return &sidebarHandler{svc: s.Service, wechat: s.WeChat, app: s.App, materials: s.Materials,
		baseURL: strings.TrimRight(s.BaseURL, "/"), shimURL: s.ShimURL,
		staff:   web.NewCookies[StaffSession](d.SessionKey, staffCookieName, staffSessionAge, d.SecureCookies),
		oauth:   web.NewCookies[staffOAuth](d.SessionKey, staffOAuthName, staffOAuthAge, d.SecureCookies),
		imports: web.NewLimiter(3*time.Second, 20), now: time.Now, tasks: tasksOf(s.Materials)}
}

// tasksOf returns the task lister behind the materials, if tasks are wired.
func tasksOf(m SidebarMaterials) SidebarTasks {
	if t, ok := m.(SidebarTasks); ok && t.HasTasks() {
		return t
	}
	return nil
}

// registerSidebar installs the sidebar routes.
func registerSidebar(e *gin.Engine, d Deps) {
	if d.Sidebar.Service == nil {
		return
	}
	h := newSidebarHandler(d)
	e.GET("/sidebar", h.withApp, h.show)
	e.GET("/sidebar/oauth", h.withApp, h.oauthCallback)
	g := e.Group("/sidebar", h.withApp, h.requireStaff)
	g.POST("/jssdk/config", h.signConfig)
	g.POST("/jssdk/agent", h.signAgent)
	g.GET("/c/:ext", h.profile)
	g.GET("/c/:ext/timeline", h.timeline)
	g.GET("/c/:ext/tags", h.tags)
	g.POST("/c/:ext/tags", h.toggleTag)
	g.POST("/c/:ext/phones/:id/reveal", h.revealPhone)
	g.POST("/c/:ext/crm", h.convertToCRM)
	g.GET("/c/:ext/materials", h.listMaterials)
	g.POST("/c/:ext/materials/:material/sent", h.materialSent)
	g.GET("/c/:ext/tasks", h.listTasks)
	g.GET("/g/:chat", h.group)
}

// withApp loads the connected app; without one the sidebar explains what
// the admin must configure.
func (h *sidebarHandler) withApp(c *gin.Context) {
	app, err := h.app(c.Request.Context())
	if err == nil && app.CorpID == "" {
		err = services.Errorf(services.EUNAVAILABLE, "尚未连接企业微信")
	}
	if err != nil {
		if services.ErrorCode(err) == services.EINTERNAL {
			web.Fail(c, err)
		} else {
			h.problem(c, http.StatusServiceUnavailable, problemFor(causeNotConnected, services.ErrorMessage(err)))
		}
		c.Abort()
		return
	}
	c.Set(keyWeComApp, app)
	c.Next()
}

func appOf(c *gin.Context) WeComApp {
	a, _ := c.Get(keyWeComApp)
	app, _ := a.(WeComApp)
	return app
}

// viewerOf is the signed-in employee of a request that passed requireStaff.
func viewerOf(c *gin.Context) services.Viewer {
	v, _ := c.Get(keyViewer)
	viewer, _ := v.(services.Viewer)
	return viewer
}

// session returns the employee of a valid, unexpired staff cookie.
func (h *sidebarHandler) session(c *gin.Context) (services.Viewer, bool) {
	s, ok := h.staff.Read(c)
	if !ok || s.UserID == "" || h.now().Sub(time.Unix(s.IssuedAt, 0)) > staffSessionAge {
		return services.Viewer{}, false
	}
	return services.Viewer{CorpID: appOf(c).CorpID, UserID: s.UserID}, true
}

// requireStaff lets through requests with a staff session. Without one,
// htmx and script requests get 401 with HX-Redirect: the page reloads and
// signs in again through OAuth, silently inside WeCom.
func (h *sidebarHandler) requireStaff(c *gin.Context) {
	v, ok := h.session(c)
	if !ok {
		h.staff.Clear(c)
		c.Header("HX-Redirect", "/sidebar")
		if c.Request.Method == http.MethodGet && !web.IsHTMX(c) {
			c.Redirect(http.StatusSeeOther, "/sidebar")
		} else {
			c.JSON(http.StatusUnauthorized, gin.H{"errcode": 401, "errmsg": "登录已过期，正在重新登录"})
		}
		c.Abort()
		return
	}
	c.Set(keyViewer, v)
	c.Next()
}

// client returns the WeCom client of the current settings.
func (h *sidebarHandler) client(c *gin.Context) (*wecom.Client, bool) {
	cl, err := h.wechat.WeChat(c.Request.Context())
	if err != nil {
		h.problem(c, http.StatusServiceUnavailable, problemFor(causeNotConnected, services.ErrorMessage(err)))
		return nil, false
	}
	return cl, true
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_@.\-]{1,128}$`)

// extParam is the external_userid (or chat id) of the path; malformed ids
// are answered like unknown ones.
func (h *sidebarHandler) idParam(c *gin.Context, name string) (string, bool) {
	id := c.Param(name)
	if !idPattern.MatchString(id) {
		h.fail(c, services.Errorf(services.ENOTFOUND, "客户不存在或你无权查看"))
		return "", false
	}
	return id, true
}

// base is the URL prefix of a customer's sidebar routes.
func base(ext string) string { return "/sidebar/c/" + ext }

// problem renders a failure screen: a fragment for htmx, a page otherwise.
func (h *sidebarHandler) problem(c *gin.Context, status int, p sidebar.ProblemVM) {
	p.RequestID = web.RequestID(c)
	if web.IsHTMX(c) {
		web.Render(c, status, sidebar.Problem(p, false))
		return
	}
	web.Render(c, status, sidebar.ProblemPage(p))
}

// fail answers a service or WeCom error with the matching screen.
func (h *sidebarHandler) fail(c *gin.Context, err error) {
	var ae *wecom.APIError
	switch {
	case asAPIError(err, &ae):
		status, p := apiProblem(ae)
		h.problem(c, status, p)
	case services.ErrorCode(err) == services.EINTERNAL:
		web.Logger(c).Error("request failed", "route", c.FullPath(), "err", err)
		h.problem(c, http.StatusInternalServerError, problemFor(causeInternal, ""))
	case services.ErrorCode(err) == services.ENOTFOUND:
		h.problem(c, http.StatusNotFound, problemFor(causeNotFound, services.ErrorMessage(err)))
	default:
		p := problemFor(causeRefused, services.ErrorMessage(err))
		h.problem(c, web.Status(services.ErrorCode(err)), p)
	}
}
