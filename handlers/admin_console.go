package handlers

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web"
)

// ConsoleUsers is what the console needs of marketing users; every method
// checks the operator's role and data permission itself.
type ConsoleUsers interface {
	FindUsers(ctx context.Context, v services.Operator, f services.UserFilter) (services.UserPage, error)
	FindUser(ctx context.Context, v services.Operator, id int64, cursor string) (services.UserDetail, error)
	RevealPhone(ctx context.Context, v services.Operator, userID, identityID int64) (string, error)
	PreviewMerge(ctx context.Context, v services.Operator, a, b int64) (services.MergePlan, error)
	Merge(ctx context.Context, v services.Operator, a, b int64, reason string) (services.MergeResult, error)
	Split(ctx context.Context, v services.Operator, userID int64, identityIDs []int64, reason string) (services.SplitResult, error)
	Conflicts(ctx context.Context, v services.Operator, status string) ([]services.Conflict, error)
	ResolveConflict(ctx context.Context, v services.Operator, id int64, resolution string) error
	ExportUsers(ctx context.Context, v services.Operator, f services.UserFilter, w io.Writer) (int, error)
}

// ConsoleStaff is what the console needs of employees: the WeCom sign-in
// lookup, the employees page and role assignment.
type ConsoleStaff interface {
	WeComStaff
	CorpID(ctx context.Context) (string, error)
	Employees(ctx context.Context, v services.Operator) (services.StaffPage, error)
	Departments(ctx context.Context) ([]services.DeptRow, error)
	SetRole(ctx context.Context, v services.Operator, userID, role string, departments []int64) error
}

// ConsoleDeps are the admin console's services (issue 8). Nil members turn
// their pages off, except Users and Staff, which the console needs.
type ConsoleDeps struct {
	Users     ConsoleUsers
	Staff     ConsoleStaff
	Dashboard Dashboard
	Tasks     PromotionTasks
	Members   MemberLevels
	Lifecycle Lifecycle
	// Segments and MassMessages serve /admin/segments and /admin/massmsg (issue 10).
	Segments     Segments
	MassMessages MassMessages
	// Automation serves /admin/automation (issue 10).
	Automation AutomationRules
	// WeChat gives the WeCom client for WeCom sign-in and task messages.
	WeChat WeChatClients
	// BaseURL is where WeCom redirects back to (OAuth) and task links point.
	BaseURL string
	// OAQR manages Official Account channel QR codes (admin_oaqr.go).
	OAQR OAQRCodes
	// TemplateMsgs serves OA template message sends (admin_templatemsg.go).
	TemplateMsgs TemplateMessages
	// MemberTags syncs member levels to WeCom corp tags (admin_members_tags.go).
	MemberTags MemberTags
}

// StaffAccounts serves admin sessions of both kinds: local accounts, and
// WeCom employees through their staff_roles role. Pass it as Deps.Admins.
type StaffAccounts struct {
	AdminAccounts
	WeComStaff
}

type consoleHandler struct {
	ConsoleDeps
	audit   AuditLog
	cookies *web.Cookies[AdminSession]
	state   *web.Cookies[oauthState]
}

// registerConsole installs the console's pages on the admin group g (admins
// and managers; finer rules are the services') and WeCom sign-in on e.
func registerConsole(e *gin.Engine, g *gin.RouterGroup, d Deps) {
	h := &consoleHandler{ConsoleDeps: d.Console, audit: d.Audit,
		cookies: web.NewCookies[AdminSession](d.SessionKey, adminCookieName, adminSessionAge, d.SecureCookies),
		state:   web.NewCookies[oauthState](d.SessionKey, oauthStateCookie, oauthStateAge, d.SecureCookies)}
	g.GET("", h.dashboard)
	g.GET("/audit", h.auditLog)
	if h.Users == nil || h.Staff == nil {
		return
	}
	e.GET("/admin/login/wecom", h.wecomLogin)
	e.GET("/admin/login/wecom/callback", h.wecomCallback)
	e.GET("/admin/login/wecom/qr", h.wecomQRLogin)
	g.GET("/users", h.listUsers)
	g.POST("/users/export", h.exportUsers)
	g.GET("/users/:id", h.showUser)
	g.POST("/users/:id/reveal", h.revealPhone)
	g.GET("/users/:id/merge", h.previewMerge)
	g.POST("/users/:id/merge", h.mergeUsers)
	g.POST("/users/:id/split", h.splitUser)
	g.GET("/conflicts", h.listConflicts)
	g.POST("/conflicts/:id/resolve", h.resolveConflict)
	g.GET("/employees", h.listEmployees)
	g.POST("/employees/:userid/role", h.setRole)
	h.registerTasks(g)
	h.registerMembers(g)
	h.registerLifecycle(g)
	h.registerAutomation(g)
	h.registerOAQR(g)
	h.registerTemplateMsgs(g)
	h.registerSegments(g)
	h.registerMassMessages(g)
}

// operator is the signed-in admin as the services see them.
func operator(c *gin.Context) services.Operator {
	a := currentAdmin(c)
	return services.Operator{Kind: a.Kind, ID: a.ID, CorpID: a.CorpID, Role: a.Role,
		DepartmentIDs: a.DepartmentIDs, IP: c.ClientIP()}
}

// idParam parses a positive id path parameter; a bad one is a 404.
func idParam(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		web.Fail(c, services.Errorf(services.ENOTFOUND, "页面不存在"))
		return 0, false
	}
	return id, true
}

// seeOther redirects after a successful POST (PRG).
func seeOther(c *gin.Context, url string) { c.Redirect(http.StatusSeeOther, url) }
