package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

// AdminSession is what the admin cookie carries. Only ids: the account is
// reloaded on every request, so a removed account or changed role takes
// effect at once.
type AdminSession struct {
	Kind     string `json:"k"` // "local" (bootstrap account) or "wecom" (employee)
	ID       string `json:"i"`
	IssuedAt int64  `json:"t"`
}

// Admin is the signed-in person of an admin request. WeCom employees carry
// their corp and, for managers, the departments their data permission covers.
type Admin struct {
	Kind          string
	ID            string
	Name          string
	Role          string
	CorpID        string
	DepartmentIDs []int64
}

const (
	adminCookieName = "ma_admin"
	adminSessionAge = 12 * time.Hour
	keyAdmin        = "handlers.admin"
)

// AdminAccounts is what the admin pages need of local accounts.
type AdminAccounts interface {
	SignIn(ctx context.Context, name, password, ip string) (services.AdminAccount, error)
	FindAdminByID(ctx context.Context, id int64) (services.AdminAccount, error)
}

// AuditLog is the append-only log of sensitive actions.
type AuditLog interface {
	Record(ctx context.Context, e services.AuditEntry) error
	List(ctx context.Context, f services.AuditFilter) ([]services.AuditEntry, error)
}

// currentAdmin returns the signed-in admin of a request that passed requireRole.
func currentAdmin(c *gin.Context) Admin {
	a, _ := c.Get(keyAdmin)
	admin, _ := a.(Admin)
	return admin
}

// requireRole lets through only signed-in admins whose role is in roles. A
// missing or expired session goes to the sign-in page (GET) or gets 401.
func (h *adminHandler) requireRole(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		admin, ok := h.load(c)
		if !ok {
			h.cookies.Clear(c)
			if c.Request.Method == http.MethodGet && !web.IsHTMX(c) {
				c.Redirect(http.StatusSeeOther, "/admin/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
			} else {
				web.Fail(c, services.Errorf(services.EUNAUTHORIZED, "登录已过期，请重新登录"))
			}
			c.Abort()
			return
		}
		for _, r := range roles {
			if admin.Role == r {
				c.Set(keyAdmin, admin)
				c.Next()
				return
			}
		}
		web.Fail(c, services.Errorf(services.EFORBIDDEN, "你的角色无权访问此页面"))
		c.Abort()
	}
}

// WeComStaff resolves a WeCom employee's console role. When the
// AdminAccounts given to the handlers also implement it, sessions of kind
// "wecom" (WeCom sign-in) are honoured; the role is read on every request.
type WeComStaff interface {
	StaffMember(ctx context.Context, corpID, userID string) (services.StaffMember, error)
}

func (h *adminHandler) load(c *gin.Context) (Admin, bool) {
	s, ok := h.cookies.Read(c)
	if ok && s.Kind == "wecom" {
		return h.loadWeCom(c, s)
	}
	if !ok || s.Kind != "local" {
		return Admin{}, false
	}
	var id int64
	for _, ch := range s.ID {
		if ch < '0' || ch > '9' {
			return Admin{}, false
		}
		id = id*10 + int64(ch-'0')
	}
	acct, err := h.accounts.FindAdminByID(c.Request.Context(), id)
	if err != nil {
		return Admin{}, false
	}
	return Admin{Kind: "local", ID: s.ID, Name: acct.Name, Role: acct.Role}, true
}

// loadWeCom resolves a WeCom session ("corp/userid") through staff_roles. A
// plain staff member stays signed in (and gets 403 on console pages) rather
// than being sent back to a sign-in page that would sign them in again.
func (h *adminHandler) loadWeCom(c *gin.Context, s AdminSession) (Admin, bool) {
	staff, ok := h.accounts.(WeComStaff)
	corp, user, found := strings.Cut(s.ID, "/")
	if !ok || !found || corp == "" || user == "" {
		return Admin{}, false
	}
	m, err := staff.StaffMember(c.Request.Context(), corp, user)
	if err != nil {
		return Admin{}, false
	}
	return Admin{Kind: "wecom", ID: user, Name: m.Name, Role: m.Role, CorpID: corp, DepartmentIDs: m.DepartmentIDs}, true
}

// adminSections lists the console's sections; a feature adds its entry here when
// its pages exist. adminOnly sections are not shown to managers, whose
// requests there would be refused anyway.
var adminSections = []struct {
	label, url string
	adminOnly  bool
}{
	{"概览", "/admin", false},
	{"营销用户", "/admin/users", false},
	{"身份冲突", "/admin/conflicts", false},
	{"推广任务", "/admin/tasks", false},
	{"会员等级", "/admin/members", false},
	{"自动化规则", "/admin/automation", false},
	{"客户人群", "/admin/segments", false},
	{"企微群发", "/admin/massmsg", false},
	{"员工", "/admin/employees", true},
	{"数据管理", "/admin/lifecycle", true},
	{"审计日志", "/admin/audit", true},
	{"注册表单", "/admin/forms", false},
	{"渠道活码", "/admin/channels", false},
	{"公众号渠道码", "/admin/oaqr", false},
	{"模板消息", "/admin/templatemsg", false},
	{"数据同步", "/admin/sync", false},
	{"连接设置", "/admin/settings", true},
	{"回调收件箱", "/admin/inbox", true},
}

// adminShell builds the layout of an admin page, marking the active section
// and showing only the sections the signed-in role may open.
func adminShell(c *gin.Context, title, active string) layout.AdminPage {
	admin := currentAdmin(c)
	p := layout.AdminPage{Page: layout.Page{Title: title}, UserName: admin.Name, SignedIn: admin.ID != ""}
	for _, s := range adminSections {
		if s.adminOnly && admin.Role != services.RoleAdmin {
			continue
		}
		p.Nav = append(p.Nav, layout.NavItem{Label: s.label, URL: s.url, Active: s.url == active})
	}
	return p
}

// safeNext keeps a post-login redirect on this site: only absolute paths,
// never "//host" or a scheme.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/admin"
	}
	return next
}
