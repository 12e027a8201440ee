package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

// consoleEnv is the admin console on a test database with one corp: the
// manager "mgr" runs department 2 (where "rep" works); "other" works in
// department 3; "staffer" has no role.
type consoleEnv struct {
	t        *testing.T
	e        *gin.Engine
	db       *sqlx.DB
	ids      *services.IdentityService
	users    *services.ConsoleService
	sessions map[string]*http.Cookie // by role: admin, manager, staff
	// u1 (followed by rep: the manager sees it), u2 (followed by other:
	// the manager does not), u3 (followed by rep, in conflict with u1)
	u1, u2, u3 int64
	conflict   int64
	task       int64 // a draft task promoting form
	form       int64
	tasks      *services.TaskService
	members    *services.MemberService
	wechat     *switchableWeChat // the tasks' WeCom client; nil: not connected
	phoneID    int64             // u1's phone identity
	forms      *services.FormService
	subs       *services.SubmissionService
}

const testCorp = "wwtestcorp"

func newConsoleEnv(t *testing.T, opts ...func(*Deps)) *consoleEnv {
	t.Helper()
	db := pgtest.NewDB(t)
	box, err := pii.NewBox(map[byte][]byte{1: make([]byte, 32)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	e, err := web.NewEngine(web.Options{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		ErrorPage: errorpage.Page, RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) }})
	if err != nil {
		t.Fatal(err)
	}
	env := &consoleEnv{t: t, e: e, db: db, ids: services.NewIdentityService(db, box)}
	audit := services.NewAuditService(db)
	env.users = services.NewConsoleService(db, box, env.ids, audit)
	staff := services.NewStaffDirectory(db, services.NewRoleService(db, audit))
	admins := services.NewAdminService(db, audit)
	key := make([]byte, 32)
	d := Deps{SessionKey: key, Audit: audit, Admins: StaffAccounts{AdminAccounts: admins, WeComStaff: staff},
		Console: ConsoleDeps{Users: env.users, Staff: staff,
			Dashboard: services.NewDashboardService(db), BaseURL: "http://example.test"}}
	d.Console = env.withOptional(d.Console, db, box, audit)
	d.Forms, d.Sync, d.Assets, d.DB = env.withForms(db, box, audit), env.withSync(db, box), assets, db
	for _, o := range opts {
		o(&d)
	}
	// every admin surface, wired as cmd/assistant wires them, so that the
	// route × role table sees every /admin route whichever function adds it
	Register(e, d)
	RegisterWeCom(e, d, withWeComAdmin(db, box, audit))
	env.seed(admins)
	env.seedTask()
	env.sessions = env.makeSessions(key)
	return env
}

func (env *consoleEnv) exec(q string, args ...any) {
	env.t.Helper()
	if _, err := env.db.Exec(q, args...); err != nil {
		env.t.Fatalf("%s: %v", q, err)
	}
}

func (env *consoleEnv) seed(admins *services.AdminService) {
	t := env.t
	env.exec(`UPDATE wecom_settings SET corp_id = $1`, testCorp)
	env.exec(`INSERT INTO wecom_departments (corp_id, id, name) VALUES ($1, 2, '销售部'), ($1, 3, '运营部')`, testCorp)
	env.exec(`INSERT INTO wecom_employees (corp_id, userid, name, departments) VALUES
        ($1, 'mgr', '王经理', '{2}'), ($1, 'rep', '李销售', '{2}'), ($1, 'other', '赵运营', '{3}'), ($1, 'staffer', '钱员工', '{3}')`, testCorp)
	env.exec(`INSERT INTO staff_roles (corp_id, userid, role, department_ids) VALUES ($1, 'mgr', 'manager', '{2}')`, testCorp)
	if _, err := admins.CreateAdmin(context.Background(), "ops", "correct horse battery", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ext := func(k string) services.IdentityInput {
		return services.IdentityInput{Kind: services.KindExternalUserID, Scope: testCorp, Key: k, Attrs: services.Attributes{Name: "客户" + k}}
	}
	union := func(k string) services.IdentityInput {
		return services.IdentityInput{Kind: services.KindUnionID, Key: k}
	}
	phone := services.IdentityInput{Kind: services.KindPhone, Key: "13912345678", Verified: true}
	env.u1 = env.link(ext("ext1"), union("uA"), phone).UserID
	env.u2 = env.link(ext("ext2"), union("uC")).UserID
	env.u3 = env.link(ext("ext3"), union("uB")).UserID
	r := env.link(union("uA"), union("uB"))
	if r.Outcome != services.OutcomeConflict || len(r.ConflictIDs) != 1 {
		t.Fatalf("want one conflict, got %+v", r)
	}
	env.conflict = r.ConflictIDs[0]
	env.exec(`INSERT INTO wecom_follows (corp_id, userid, external_userid) VALUES ($1, 'rep', 'ext1'), ($1, 'other', 'ext2'), ($1, 'rep', 'ext3')`, testCorp)
	if err := env.db.Get(&env.phoneID, `SELECT id FROM identities WHERE kind = 'phone' AND user_id = $1`, env.u1); err != nil {
		t.Fatal(err)
	}
}

func (env *consoleEnv) link(ids ...services.IdentityInput) services.LinkResult {
	env.t.Helper()
	r, err := env.ids.Link(context.Background(), services.Observation{Source: "test", Ref: "t:" + ids[0].Key,
		OccurredAt: time.Now().Add(-time.Hour), Identities: ids,
		Moments: []services.MomentInput{{Identity: 0, Kind: "form_submitted", Channel: "poster", Title: "报名"}}})
	if err != nil {
		env.t.Fatal(err)
	}
	return r
}

func (env *consoleEnv) makeSessions(key []byte) map[string]*http.Cookie {
	cookies := web.NewCookies[AdminSession](key, adminCookieName, adminSessionAge, false)
	var adminID int64
	if err := env.db.Get(&adminID, `SELECT id FROM admin_accounts WHERE name = 'ops'`); err != nil {
		env.t.Fatal(err)
	}
	mk := func(s AdminSession) *http.Cookie {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		if err := cookies.Write(c, s); err != nil {
			env.t.Fatal(err)
		}
		return w.Result().Cookies()[0]
	}
	now := time.Now().Unix()
	return map[string]*http.Cookie{
		"admin":   mk(AdminSession{Kind: "local", ID: strconv.FormatInt(adminID, 10), IssuedAt: now}),
		"manager": mk(AdminSession{Kind: "wecom", ID: testCorp + "/mgr", IssuedAt: now}),
		"staff":   mk(AdminSession{Kind: "wecom", ID: testCorp + "/staffer", IssuedAt: now}),
	}
}

// do sends a same-origin request as role ("" for no session).
func (env *consoleEnv) do(method, path, role string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form == nil {
		form = url.Values{}
	}
	body = strings.NewReader(form.Encode())
	req := httptest.NewRequest(method, "http://example.test"+path, body)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://example.test")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c := env.sessions[role]; c != nil {
		req.AddCookie(c)
	}
	return env.send(req)
}

// send serves a prepared request.
func (env *consoleEnv) send(req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	env.e.ServeHTTP(w, req)
	return w
}

func (env *consoleEnv) auditCount(action string) int {
	env.t.Helper()
	var n int
	if err := env.db.Get(&n, `SELECT count(*) FROM audit_log WHERE action = $1`, action); err != nil {
		env.t.Fatal(err)
	}
	return n
}

// adminRoutes lists every /admin route (sign-in and logout aside), whatever
// registered it.
func (env *consoleEnv) adminRoutes() []gin.RouteInfo {
	var out []gin.RouteInfo
	for _, r := range env.e.Routes() {
		if !strings.HasPrefix(r.Path, "/admin") || strings.HasPrefix(r.Path, "/admin/login") || r.Path == "/admin/logout" {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (env *consoleEnv) fill(path string) string {
	r := strings.NewReplacer(":userid", "rep", "/users/:id", "/users/"+strconv.FormatInt(env.u1, 10),
		"/conflicts/:id", "/conflicts/"+strconv.FormatInt(env.conflict, 10),
		"/tasks/:id", "/tasks/"+strconv.FormatInt(env.task, 10), "/forms/:id", "/forms/"+strconv.FormatInt(env.form, 10),
		":kind", "contacts", ":id", "999999")
	return r.Replace(path)
}

// withOptional adds the console's optional services. Tasks send through
// a WeChat source that is not connected, unless a test swaps it.
func (env *consoleEnv) withOptional(d ConsoleDeps, db *sqlx.DB, box *pii.Box, audit *services.AuditService) ConsoleDeps {
	env.wechat = &switchableWeChat{}
	env.tasks = services.NewTaskService(db, audit, services.NewFormService(db, audit, "http://example.test"), env.wechat, "http://example.test")
	d.Tasks = env.tasks
	env.members = services.NewMemberService(db, audit)
	d.Members = env.members
	d.Lifecycle = services.NewLifecycleService(db, box, audit)
	d.MemberTags = services.NewMemberTagService(db, audit, env.wechat, nil)
	d.Automation = services.NewAutomationService(db, audit, env.members, env.wechat, "http://example.test")
	d.Segments = services.NewSegmentService(db, audit)
	d.MassMessages = services.NewMassMessageService(db, audit, d.Segments.(*services.SegmentService),
		services.NewFormService(db, audit, "http://example.test"), services.NewAttributor(make([]byte, 32)), env.wechat, "http://example.test")
	d.OAQR = services.NewOAQRCodeService(db, audit, services.NewAttributor(make([]byte, 32)), "http://example.test")
	d.TemplateMsgs = services.NewTemplateMessageService(db, audit, services.NewSegmentService(db, audit),
		services.NewAttributor(make([]byte, 32)), "http://example.test",
		func(context.Context) (services.TemplateClient, error) {
			return nil, services.Errorf(services.EUNAVAILABLE, "未连接")
		})
	return d
}

// withForms wires the registration forms and their admin pages.
func (env *consoleEnv) withForms(db *sqlx.DB, box *pii.Box, audit *services.AuditService) FormDeps {
	forms := services.NewFormService(db, audit, "http://example.test")
	subs := services.NewSubmissionService(services.SubmissionDeps{DB: db, PII: box, Identities: env.ids, Forms: forms,
		Attribution: services.NewAttributor(make([]byte, 32)), Audit: audit,
		SMS: services.NewSMSService(db, box, &services.SandboxSMS{}, services.SMSConfig{})}, services.SubmissionConfig{})
	env.forms, env.subs = forms, subs
	return FormDeps{BaseURL: "http://example.test", Forms: forms, Submissions: subs}
}

// withSync wires the sync and channel pages; WeCom is not connected.
func (env *consoleEnv) withSync(db *sqlx.DB, box *pii.Box) SyncDeps {
	return SyncDeps{Jobs: services.NewSyncService(db, box, env.ids, nil), Targets: fixedTarget{services.SyncTarget{CorpID: testCorp}},
		Channels: services.NewChannelService(db, "http://example.test")}
}

// withWeComAdmin wires the admin-only settings and inbox pages (no callbacks).
func withWeComAdmin(db *sqlx.DB, box *pii.Box, audit *services.AuditService) WeComDeps {
	settings := services.NewSettingsService(db, box, audit)
	return WeComDeps{Settings: settings, Tester: services.NewWeChatProvider(settings, db, box, nil),
		InboxAdmin: services.NewInboxService(db, box, audit), BaseURL: "http://example.test"}
}

// seedTask adds a published form and a draft task for everyone promoting it.
func (env *consoleEnv) seedTask() {
	env.t.Helper()
	if err := env.db.Get(&env.form, `INSERT INTO forms (slug, title, consent_text, published)
VALUES ('springspringab23', '春季试驾', '同意隐私政策', true) RETURNING id`); err != nil {
		env.t.Fatal(err)
	}
	t, err := env.tasks.CreateTask(context.Background(), services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin},
		services.TaskInput{Title: "春季试驾推广", FormID: env.form, Message: "转发给意向客户", Deadline: time.Now().Add(48 * time.Hour),
			TargetKind: services.TargetEveryone})
	if err != nil {
		env.t.Fatal(err)
	}
	env.task = t.ID
}

func (env *consoleEnv) consoleUsers() *services.ConsoleService { return env.users }

// switchableWeChat is a WeChat source a test can connect later.
type switchableWeChat struct{ client *wecom.Client }

func (s *switchableWeChat) WeChat(ctx context.Context) (*wecom.Client, error) {
	return FixedWeChat{Client: s.client}.WeChat(ctx)
}
