package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// startMassApp is the console with segments and mass messages, wired to an
// in-process sandbox whose corp (two employees, four customers) is synced
// into the database through the real sync.
func startMassApp(t *testing.T) *consoleApp {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 12, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	so, su := sb.Options(), sb.URLs()
	client, err := wecom.New(wecom.Config{CorpID: so.Corp.CorpID, AgentID: so.Corp.AgentID, AgentSecret: so.Corp.AgentSecret,
		ContactsSyncSecret: so.Corp.ContactSecret, WeComBaseURL: su.WeComAPI, OAuthBaseURL: su.OAuth}, wecom.NewMemoryCache(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t)
	key := []byte(strings.Repeat("m", 32))
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
	segments := services.NewSegmentService(db, audit)
	forms := services.NewFormService(db, audit, app.URL)
	handlers.Register(engine, handlers.Deps{Assets: assets, DB: db, SessionKey: key, Audit: audit,
		Admins: handlers.StaffAccounts{AdminAccounts: admins, WeComStaff: staff},
		Console: handlers.ConsoleDeps{Users: services.NewConsoleService(db, box, app.IDs, audit), Staff: staff, WeChat: wc, BaseURL: app.URL,
			Segments: segments, MassMessages: services.NewMassMessageService(db, audit, segments, forms,
				services.NewAttributor(key), wc, app.URL)}})
	srv.Start()
	t.Cleanup(srv.Close)
	massCorp(t, app, services.SyncTarget{CorpID: app.Corp, Client: client}, box)
	return app
}

// massCorp makes zhangsan's three customers and lisi's one in the sandbox,
// syncs them, and publishes a form.
func massCorp(t *testing.T, app *consoleApp, target services.SyncTarget, box *pii.Box) {
	t.Helper()
	app.DB.MustExec(`UPDATE wecom_settings SET corp_id = $1`, app.Corp)
	for _, e := range []struct{ id, name string }{{"zhangsan", "张三"}, {"lisi", "李四"}} {
		if _, err := app.SB.CreateEmployee(sandbox.NewEmployee{UserID: e.id, Name: e.name}); err != nil {
			t.Fatal(err)
		}
	}
	for i, emp := range []string{"zhangsan", "zhangsan", "zhangsan", "lisi"} {
		p, err := app.SB.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: fmt.Sprintf("客户%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.SB.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: emp}); err != nil {
			t.Fatal(err)
		}
	}
	sync := services.NewSyncService(app.DB, box, app.IDs, nil)
	for _, k := range []services.SyncKind{services.SyncEmployees, services.SyncContacts} {
		if _, err := sync.Run(context.Background(), target, k, "test"); err != nil {
			t.Fatal(err)
		}
	}
	app.DB.MustExec(`INSERT INTO forms (slug, title, consent_text, published) VALUES ('springspringab23', '春季试驾', '同意', true)`)
}

// messagedThisWeek records that one of zhangsan's customers got an earlier
// mass message yesterday (as a sent message of the app would have).
func messagedThisWeek(t *testing.T, app *consoleApp) {
	t.Helper()
	app.DB.MustExec(`INSERT INTO mass_messages (id, corp_id, title, status, sent_at) VALUES (900, $1, '上周五', 'sent', now() - interval '1 day')`, app.Corp)
	app.DB.MustExec(`INSERT INTO mass_message_recipients (message_id, corp_id, external_userid, userid, status, planned_at)
SELECT 900, corp_id, external_userid, userid, 1, now() - interval '1 day' FROM wecom_follows WHERE userid = 'zhangsan'
ORDER BY external_userid LIMIT 1`)
}

// confirmAll has every employee press 发送 in WeCom, through the sandbox's
// control API over HTTP.
func confirmAll(t *testing.T, app *consoleApp) int {
	t.Helper()
	res, err := http.Get(app.SB.URLs().Control + "/api/mass-messages")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var msgs []sandbox.MassMsg
	if err := json.NewDecoder(res.Body).Decode(&msgs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		for _, task := range m.Tasks {
			body, _ := json.Marshal(map[string]string{"msgid": m.MsgID, "userid": task.UserID})
			r, err := http.Post(app.SB.URLs().Control+"/api/mass-messages/confirm", "application/json", bytes.NewReader(body))
			if err != nil || r.StatusCode != http.StatusOK {
				t.Fatalf("confirm %s/%s: %v %v", m.MsgID, task.UserID, r, err)
			}
			r.Body.Close()
			n++
		}
	}
	return n
}

// runSteps runs the actions one by one, naming the step that failed (a
// chromedp wait that never matches only says "deadline exceeded").
func runSteps(t *testing.T, ctx context.Context, steps ...chromedp.Action) error {
	t.Helper()
	for i, s := range steps {
		if err := chromedp.Run(ctx, s); err != nil {
			var url string
			_ = chromedp.Run(ctx, chromedp.Location(&url))
			return fmt.Errorf("step %d (at %s): %w", i+1, url, err)
		}
	}
	return nil
}

// waitText polls until sel's text is want (htmx swaps it a moment later).
// A plain loop: chromedp.Poll did not return after an htmx swap here.
func waitText(sel, want string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			err := chromedp.Evaluate(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel), &got).Do(ctx)
			if err == nil && got == want {
				return nil
			}
		}
		return fmt.Errorf("%s shows %q, want %q", sel, got, want)
	})
}

// An admin builds a segment watching the live count change, writes a mass
// message with a form link, previews it (one customer left out: messaged
// this week), sends it, the employees confirm in the sandbox, and the
// refreshed results show who got it.
func TestMassMessageInBrowser(t *testing.T) {
	app := startMassApp(t)
	messagedThisWeek(t, app)
	ctx := browsertest.New(t, "", 120*time.Second)
	var status, sent string
	err := runSteps(t, ctx,
		app.signIn("/admin/segments/new"),
		waitText(`[data-testid="segment-count"]`, "4"),
		chromedp.SendKeys(`[data-testid="segment-name"]`, "企微客户"),
		chromedp.Click(`input[name="has_kind"][value="phone"]`),
		waitText(`[data-testid="segment-count"]`, "0"),
		chromedp.Click(`input[name="has_kind"][value="phone"]`),
		chromedp.Click(`input[name="has_kind"][value="wecom_external_userid"]`),
		waitText(`[data-testid="segment-count"]`, "4"),
		navigateBy(`[data-testid="segment-save"]`, `[data-testid="segment-row"]`),
		chromedp.Navigate(app.URL+"/admin/massmsg/new"),
		chromedp.SendKeys(`[data-testid="mass-title"]`, "春季试驾邀请"),
		chromedp.SetValue(`[data-testid="mass-segment"]`, "1"),
		chromedp.SendKeys(`[data-testid="mass-text"]`, "春季试驾开始报名啦"),
		chromedp.Click(`[data-testid="mass-attach-form"]`),
		chromedp.SetValue(`[data-testid="mass-form-id"]`, "1"),
		navigateBy(`[data-testid="mass-save"]`, `[data-testid="mass-preview"]`),
		waitText(`[data-testid="mass-customers"]`, "4"),
		waitText(`[data-testid="mass-excluded"]`, "1"),
		waitText(`[data-testid="mass-recipients"]`, "3"),
		// what the customers will get: the text and the form it links to
		waitText(`[data-testid="mass-text-shown"]`, "春季试驾开始报名啦"),
		waitText(`[data-testid="mass-attachment"]`, "附件：表单链接「春季试驾」"),
		noConfirm(),
		navigateBy(`[data-testid="mass-send"]`, `[data-testid="mass-refresh"]`),
		chromedp.Text(`[data-testid="mass-status"]`, &status),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "massmsg-created")
	if status != "已创建，待员工确认" {
		t.Fatalf("status %q", status)
	}
	if n := confirmAll(t, app); n != 2 {
		t.Fatalf("%d tasks confirmed, want 2 (one per employee)", n)
	}
	err = runSteps(t, ctx,
		navigateBy(`[data-testid="mass-refresh"]`, `[data-testid="mass-senders"]`),
		chromedp.Text(`[data-testid="mass-sender-status"]`, &sent),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "massmsg-results")
	var moments int
	app.DB.Get(&moments, `SELECT count(*) FROM moments WHERE kind = 'mass_message_received'`)
	if sent != "员工已发送" || moments != 3 {
		t.Fatalf("sender status %q, %d moments", sent, moments)
	}
}
