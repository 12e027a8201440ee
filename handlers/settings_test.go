package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

// settingsEnv is the admin console with the settings pages on a test database.
type settingsEnv struct {
	*wecomEnv
	admin *httptest.Server
}

func newSettingsEnv(t *testing.T) *settingsEnv {
	env := newWeComEnv(t, true)
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	e, err := web.NewEngine(web.Options{Log: quietLog(), ErrorPage: errorpage.Page,
		RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) }})
	if err != nil {
		t.Fatal(err)
	}
	audit := services.NewAuditService(env.db)
	admins := services.NewAdminService(env.db, audit)
	deps := Deps{SessionKey: []byte(strings.Repeat("k", 32)), Admins: admins, Audit: audit}
	registerAdmin(e, deps)
	RegisterWeCom(e, deps, WeComDeps{Settings: env.settings, Connections: env.provider, Tester: env.provider,
		Inbox: env.inbox, InboxAdmin: env.inbox, BaseURL: "https://ma.example.com"})
	for name, role := range map[string]string{"boss": services.RoleAdmin, "mgr": services.RoleManager} {
		if _, err := admins.CreateAdmin(context.Background(), name, "correct horse battery", role); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &settingsEnv{wecomEnv: env, admin: srv}
}

// signIn returns a client with the named admin's session.
func (s *settingsEnv) signIn(name string) *http.Client {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(s.admin.URL+"/admin/login", url.Values{"name": {name}, "password": {"correct horse battery"}})
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

func reader(t *testing.T) func(*http.Response, error) (int, string) {
	return func(resp *http.Response, err error) (int, string) { return readResp(t, resp, err) }
}

func readResp(t *testing.T, resp *http.Response, err error) (int, string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSettingsSaveNeverEchoesSecrets(t *testing.T) {
	env := newSettingsEnv(t)
	c := env.signIn("boss")
	o := env.sb.Options()
	body := reader(t)
	st, page := body(c.Get(env.admin.URL + "/admin/settings"))
	if st != 200 || !strings.Contains(page, `data-testid="set-agent_secret"`) || strings.Contains(page, o.Corp.AgentSecret) ||
		strings.Contains(page, o.Corp.EncodingAESKey) || !strings.Contains(page, "https://ma.example.com/callbacks/wecom") {
		t.Fatalf("settings page: %d, secrets shown or paste values missing", st)
	}
	// Save: a new agent secret, other secrets left empty (= unchanged).
	form := url.Values{"corp_id": {o.Corp.CorpID}, "app_mode": {"self_built"}, "agent_id": {"1000002"},
		"agent_secret": {"a-brand-new-secret-123"}, "oa_app_id": {o.Official.AppID}, "oa_message_mode": {"safe"},
		"mp_app_id": {o.MiniProgram.AppID}}
	st, page = body(c.PostForm(env.admin.URL+"/admin/settings", form))
	if st != 200 || !strings.Contains(page, `data-testid="settings-flash"`) || strings.Contains(page, "a-brand-new-secret-123") {
		t.Fatalf("save: %d", st)
	}
	s, err := env.settings.Settings(context.Background())
	if err != nil || s.AgentSecret != "a-brand-new-secret-123" || s.CallbackAESKey != o.Corp.EncodingAESKey || s.Sandbox {
		t.Fatalf("saved settings wrong: %v", err)
	}
	if env.count(`SELECT count(*) FROM wecom_settings WHERE position('a-brand-new-secret-123' in encode(agent_secret, 'escape')) > 0`) != 0 {
		t.Fatal("secret stored in plain text")
	}
	var detail string
	if err := env.db.Get(&detail, `SELECT detail::text FROM audit_log WHERE action = 'settings_changed' ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "agent_secret") || strings.Contains(detail, "a-brand-new-secret-123") {
		t.Fatalf("audit detail %s", detail)
	}
	// Invalid input: 422 with the field error; a typed secret is not echoed.
	form.Set("callback_aes_key", "short")
	form.Set("agent_secret", "another-secret-456")
	st, page = body(c.PostForm(env.admin.URL+"/admin/settings", form))
	if st != 422 || !strings.Contains(page, `data-testid="error-callback_aes_key"`) || strings.Contains(page, "another-secret-456") {
		t.Fatalf("invalid save: %d", st)
	}
	// Generate fills a fresh key into the form without saving it.
	st, page = body(c.PostForm(env.admin.URL+"/admin/settings/generate", url.Values{"generate": {"callback_aes_key"}, "corp_id": {o.Corp.CorpID}}))
	if st != 200 || !strings.Contains(page, `data-testid="field-callback_aes_key"`) {
		t.Fatalf("generate: %d", st)
	}
	// Test connection with the new (wrong) secret: advice for 40001.
	env.provider.Invalidate()
	st, page = body(c.PostForm(env.admin.URL+"/admin/settings/test", url.Values{"app": {"wecom"}}))
	if st != 200 || !strings.Contains(page, `data-testid="test-advice-wecom"`) || !strings.Contains(page, "40001") {
		t.Fatalf("test connection: %d", st)
	}
	// Managers may not see or change the settings.
	m := env.signIn("mgr")
	if st, _ := body(m.Get(env.admin.URL + "/admin/settings")); st != 403 {
		t.Fatalf("manager got %d", st)
	}
}
