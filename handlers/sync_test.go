package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

type fixedTarget struct{ t services.SyncTarget }

func (f fixedTarget) SyncTarget(context.Context) (services.SyncTarget, error) { return f.t, nil }

// The sync page starts a job (admins only), its card shows the report; the
// channels page creates, lists and deletes a channel QR code.
func TestSyncAndChannelPages(t *testing.T) {
	env := newConsoleEnv(t)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 3, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	if _, err := sb.Seed(sandbox.SeedInput{Employees: 3, WeChatUsers: 150, ContactsPerEmployee: 50}); err != nil {
		t.Fatal(err)
	}
	o, u := sb.Options(), sb.URLs()
	client, err := wecom.New(wecom.Config{CorpID: o.Corp.CorpID, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		ContactsSyncSecret: o.Corp.ContactSecret, WeComBaseURL: u.WeComAPI}, wecom.NewMemoryCache(), nil)
	if err != nil {
		t.Fatal(err)
	}
	box, _ := pii.NewBox(map[byte][]byte{1: make([]byte, 32)}, 1)
	jobs := services.NewSyncService(env.db, box, env.ids, nil)
	target := services.SyncTarget{CorpID: o.Corp.CorpID, Client: client}
	if _, err := jobs.Run(ctx, target, services.SyncEmployees, "test"); err != nil {
		t.Fatal(err)
	}
	assets, _ := static.New()
	e, err := web.NewEngine(web.Options{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		ErrorPage: errorpage.Page, RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) }})
	if err != nil {
		t.Fatal(err)
	}
	audit := services.NewAuditService(env.db)
	staff := services.NewStaffDirectory(env.db, services.NewRoleService(env.db, audit))
	d := Deps{SessionKey: make([]byte, 32), Audit: audit,
		Admins: StaffAccounts{AdminAccounts: services.NewAdminService(env.db, audit), WeComStaff: staff}}
	registerSync(registerAdmin(e, d), SyncDeps{Jobs: jobs, Targets: fixedTarget{target},
		Channels: services.NewChannelService(env.db, "https://app.example.com")})
	env.e = e

	if w := env.do("GET", "/admin/sync", "admin", nil); w.Code != 200 || !strings.Contains(w.Body.String(), `data-testid="sync-contacts"`) {
		t.Fatalf("sync page: %d", w.Code)
	}
	if w := env.do("POST", "/admin/sync/contacts", "manager", nil); w.Code != http.StatusForbidden {
		t.Errorf("manager start: %d, want 403", w.Code)
	}
	if w := env.do("POST", "/admin/sync/contacts", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("start: %d", w.Code)
	}
	var j services.SyncJob
	for deadline := time.Now().Add(20 * time.Second); j.State != services.SyncDone; time.Sleep(20 * time.Millisecond) {
		latest, _ := jobs.LatestJobs(ctx, target.CorpID)
		if j = latest[services.SyncContacts]; time.Now().After(deadline) {
			t.Fatalf("job did not finish: %+v", j)
		}
	}
	w := env.do("GET", "/admin/sync/jobs/"+strconv.FormatInt(j.ID, 10), "manager", nil)
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, "企业微信报告 150 个客户关系；本地 150 个") || strings.Contains(body, "hx-get") {
		t.Errorf("job card: %d %s", w.Code, body)
	}

	form := url.Values{"code": {"store_1"}, "name": {"门店"}, "employees": {"emp001"}, "welcome_text": {"欢迎光临"}, "skip_verify": {"1"}}
	if w := env.do("POST", "/admin/channels", "admin", form); w.Code != http.StatusSeeOther {
		t.Fatalf("create channel: %d %s", w.Code, w.Body.String())
	}
	if w := env.do("POST", "/admin/channels", "admin", form); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "渠道码已被使用") {
		t.Errorf("duplicate code: %d", w.Code)
	}
	w = env.do("GET", "/admin/channels", "admin", nil)
	if !strings.Contains(w.Body.String(), `data-code="store_1"`) {
		t.Fatalf("channel not listed: %d", w.Code)
	}
	var id int64
	if err := env.db.Get(&id, `SELECT id FROM wecom_channels WHERE code = 'store_1'`); err != nil {
		t.Fatal(err)
	}
	if w := env.do("POST", "/admin/channels/"+strconv.FormatInt(id, 10)+"/delete", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", w.Code)
	}
	if w := env.do("GET", "/admin/channels", "admin", nil); strings.Contains(w.Body.String(), `data-code="store_1"`) {
		t.Error("deleted channel still listed")
	}
}
