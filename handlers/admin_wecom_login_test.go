package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// startWeComSandbox runs the sandbox for the test corp with the fixture's
// employees and returns a client pointed at it.
func startWeComSandbox(t *testing.T) (*sandbox.Sandbox, *wecom.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 8, Corp: sandbox.CorpConfig{CorpID: testCorp}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	for _, u := range []string{"mgr", "rep", "other", "staffer"} {
		if _, err := sb.CreateEmployee(sandbox.NewEmployee{UserID: u, Name: u}); err != nil {
			t.Fatal(err)
		}
	}
	o, u := sb.Options(), sb.URLs()
	c, err := wecom.New(wecom.Config{CorpID: o.Corp.CorpID, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		WeComBaseURL: u.WeComAPI, OAuthBaseURL: u.OAuth}, wecom.NewMemoryCache(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sb, c
}

// wecomSignIn runs WeCom OAuth as the employee the sandbox picker is told
// to pick, and returns the callback's answer.
func (env *consoleEnv) wecomSignIn(t *testing.T, pick string) *httptest.ResponseRecorder {
	t.Helper()
	w := env.do(http.MethodGet, "/admin/login/wecom?next=/admin/users", "", nil)
	if w.Code != http.StatusFound {
		t.Fatalf("start: %d", w.Code)
	}
	state := w.Result().Cookies()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	auth, _, _ := strings.Cut(w.Header().Get("Location"), "#") // #wechat_redirect
	resp, err := noRedirect.Get(auth + "&sandbox_pick=" + pick)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Path != "/admin/login/wecom/callback" {
		t.Fatalf("sandbox answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.test"+back.RequestURI(), nil)
	for _, c := range state {
		req.AddCookie(c)
	}
	return env.send(req)
}

func TestConsoleWeComSignIn(t *testing.T) {
	_, client := startWeComSandbox(t)
	env := newConsoleEnv(t, func(d *Deps) { d.Console.WeChat = FixedWeChat{Client: client} })

	w := env.wecomSignIn(t, "mgr")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/users" {
		t.Fatalf("manager sign-in: %d %s", w.Code, w.Header().Get("Location"))
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.test/admin/users", nil)
	for _, c := range w.Result().Cookies() {
		if c.Name == adminCookieName {
			req.AddCookie(c)
		}
	}
	if w := env.send(req); w.Code != http.StatusOK {
		t.Fatalf("manager session: %d", w.Code)
	}
	var actor string
	if err := env.db.Get(&actor, `SELECT actor_kind || ':' || actor_id FROM audit_log WHERE action = 'sign_in'`); err != nil || actor != "wecom:mgr" {
		t.Fatalf("sign_in audit: %q %v", actor, err)
	}

	if w := env.wecomSignIn(t, "staffer"); w.Code != http.StatusForbidden {
		t.Fatalf("staff sign-in: %d", w.Code)
	}
	if env.auditCount("sign_in_refused") != 1 {
		t.Fatal("refused sign-in not audited")
	}
	forged := httptest.NewRequest(http.MethodGet, "http://example.test/admin/login/wecom/callback?code=x&state=guess", nil)
	if w := env.send(forged); w.Code != http.StatusUnauthorized {
		t.Fatalf("callback without the state cookie: %d", w.Code)
	}
}
