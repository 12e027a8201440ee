package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// consoleApp is the console wired to an in-process sandbox (as demo mode
// wires it), served by httptest, with the local admin "ops".
type consoleApp struct {
	URL      string
	SB       *sandbox.Sandbox
	DB       *sqlx.DB
	IDs      *services.IdentityService
	Corp     string
	Password string
}

func startConsoleApp(t *testing.T) *consoleApp {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 11, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	so, su := sb.Options(), sb.URLs()
	client, err := wecom.New(wecom.Config{CorpID: so.Corp.CorpID, AgentID: so.Corp.AgentID, AgentSecret: so.Corp.AgentSecret,
		WeComBaseURL: su.WeComAPI, OAuthBaseURL: su.OAuth}, wecom.NewMemoryCache(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t)
	key := []byte(strings.Repeat("s", 32))
	box, err := pii.NewBox(map[byte][]byte{1: key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := web.NewEngine(web.Options{ErrorPage: errorpage.Page, FrameAncestors: frameAncestors,
		RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(engine)
	app := &consoleApp{URL: "http://" + srv.Listener.Addr().String(), SB: sb, DB: db, IDs: services.NewIdentityService(db, box),
		Corp: so.Corp.CorpID, Password: "correct horse battery staple"}
	audit := services.NewAuditService(db)
	admins := services.NewAdminService(db, audit)
	if _, err := admins.CreateAdmin(ctx, "ops", app.Password, services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	staff := services.NewStaffDirectory(db, services.NewRoleService(db, audit))
	wc := handlers.FixedWeChat{Client: client}
	handlers.Register(engine, handlers.Deps{Assets: assets, DB: db, SessionKey: key, Audit: audit,
		Admins: handlers.StaffAccounts{AdminAccounts: admins, WeComStaff: staff},
		Console: handlers.ConsoleDeps{Users: services.NewConsoleService(db, box, app.IDs, audit), Staff: staff, WeChat: wc, BaseURL: app.URL,
			Tasks: services.NewTaskService(db, audit, services.NewFormService(db, audit, app.URL), wc, app.URL)}})
	srv.Start()
	t.Cleanup(srv.Close)
	app.corp(t)
	return app
}

// corp connects the corp in the database and mirrors two employees that
// also exist in the sandbox.
func (a *consoleApp) corp(t *testing.T) {
	t.Helper()
	if _, err := a.DB.Exec(`UPDATE wecom_settings SET corp_id = $1`, a.Corp); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ id, name string }{{"zhangsan", "张三"}, {"lisi", "李四"}} {
		if _, err := a.SB.CreateEmployee(sandbox.NewEmployee{UserID: u.id, Name: u.name}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.DB.Exec(`INSERT INTO wecom_employees (corp_id, userid, name, departments) VALUES ($1, $2, $3, '{1}')`,
			a.Corp, u.id, u.name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.DB.Exec(`INSERT INTO forms (slug, title, consent_text, published) VALUES ('springspringab23', '春季试驾', '同意', true)`); err != nil {
		t.Fatal(err)
	}
}

func (a *consoleApp) signIn(next string) chromedp.Action {
	f := &consoleFixture{url: a.URL, password: a.Password}
	return f.signIn(next)
}

// An admin creates a promotion task for everyone and publishes it: the
// employees' app message is in the sandbox outbox.
func TestConsolePublishTaskInBrowser(t *testing.T) {
	app := startConsoleApp(t)
	ctx := browsertest.New(t, "", 90*time.Second)
	var status string
	err := chromedp.Run(ctx,
		app.signIn("/admin/tasks/new"),
		chromedp.SendKeys(`[data-testid="task-title"]`, "春季试驾推广"),
		chromedp.SetValue(`[data-testid="task-material"]`, "1"),
		chromedp.SendKeys(`[data-testid="task-message"]`, "请转发给意向客户"),
		navigateBy(`[data-testid="task-save"]`, `[data-testid="task-publish"]`),
		noConfirm(),
		navigateBy(`[data-testid="task-publish"]`, `[data-testid="flash"]`),
		chromedp.Text(`[data-testid="task-status"]`, &status),
	)
	if err != nil {
		t.Fatal(err)
	}
	out := app.SB.Outbox("app_message")
	if status != "已发布" || len(out) != 1 {
		t.Fatalf("status %q, %d app messages", status, len(out))
	}
	for _, want := range []string{"zhangsan", "lisi", "/f/springspringab23", "春季试驾推广"} {
		if !strings.Contains(string(out[0].Payload), want) {
			t.Errorf("app message lacks %q: %s", want, out[0].Payload)
		}
	}
	browsertest.Screenshot(t, ctx, "console-task")
}
