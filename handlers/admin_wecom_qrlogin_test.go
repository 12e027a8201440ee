package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// wecomQRSignIn runs WeCom QR code sign-in: the app sends the browser to the
// sandbox's web login page, the employee pick stands for the scan, and the
// sandbox's redirect comes back to the callback in the same browser.
func (env *consoleEnv) wecomQRSignIn(t *testing.T, pick string) *httptest.ResponseRecorder {
	t.Helper()
	w := env.do(http.MethodGet, "/admin/login/wecom/qr?next=/admin/users", "", nil)
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || err != nil || loc.Path != "/wwlogin/sso/login" {
		t.Fatalf("start: %d %q", w.Code, w.Header().Get("Location"))
	}
	q := loc.Query()
	if q.Get("login_type") != "CorpApp" || q.Get("appid") != testCorp ||
		q.Get("redirect_uri") != "http://example.test/admin/login/wecom/callback" {
		t.Fatalf("web login URL %s", loc)
	}
	state := w.Result().Cookies()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(loc.String() + "&sandbox_pick=" + pick)
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

func TestConsoleWeComQRSignIn(t *testing.T) {
	_, client := startWeComSandbox(t)
	env := newConsoleEnv(t, func(d *Deps) { d.Console.WeChat = FixedWeChat{Client: client} })

	w := env.wecomQRSignIn(t, "mgr")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/users" {
		t.Fatalf("manager QR sign-in: %d %s", w.Code, w.Header().Get("Location"))
	}
	var method string
	if err := env.db.Get(&method, `SELECT detail->>'method' FROM audit_log WHERE action = 'sign_in' AND actor_id = 'mgr'`); err != nil || method != "wecom_qr" {
		t.Fatalf("sign_in audit method = %q, %v", method, err)
	}
	var session *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == adminCookieName {
			session = c
		}
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.test/admin/users", nil)
	req.AddCookie(session)
	if w := env.send(req); w.Code != http.StatusOK {
		t.Fatalf("manager session: %d", w.Code)
	}
	// Same role check as OAuth: an employee without a console role is refused.
	if w := env.wecomQRSignIn(t, "staffer"); w.Code != http.StatusForbidden {
		t.Fatalf("staff QR sign-in: %d", w.Code)
	}
	if env.auditCount("sign_in_refused") != 1 {
		t.Fatal("refused QR sign-in not audited")
	}
}

// The code must come back to the browser that started: another browser's
// state cookie (or none) does not accept it.
func TestConsoleWeComQRSignInStateBinding(t *testing.T) {
	_, client := startWeComSandbox(t)
	env := newConsoleEnv(t, func(d *Deps) { d.Console.WeChat = FixedWeChat{Client: client} })
	victim := env.do(http.MethodGet, "/admin/login/wecom/qr", "", nil)
	attacker := env.do(http.MethodGet, "/admin/login/wecom/qr", "", nil)
	loc, _ := url.Parse(attacker.Header().Get("Location"))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(loc.String() + "&sandbox_pick=mgr")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	req := httptest.NewRequest(http.MethodGet, "http://example.test"+back.RequestURI(), nil)
	for _, c := range victim.Result().Cookies() {
		req.AddCookie(c)
	}
	if w := env.send(req); w.Code != http.StatusUnauthorized {
		t.Fatalf("code with another browser's state: %d, want 401", w.Code)
	}
	if env.auditCount("sign_in") != 0 {
		t.Fatal("a session was issued")
	}
}

// The sign-in page offers QR sign-in only while WeCom is connected.
func TestLoginPageOffersQRWhenConnected(t *testing.T) {
	_, client := startWeComSandbox(t)
	for _, tc := range []struct {
		name string
		wc   WeChatClients
		want bool
	}{{"connected", FixedWeChat{Client: client}, true}, {"not connected", FixedWeChat{}, false}} {
		env := newConsoleEnv(t, func(d *Deps) { d.Console.WeChat = tc.wc })
		w := env.do(http.MethodGet, "/admin/login?next=/admin/users", "", nil)
		has := strings.Contains(w.Body.String(), `data-testid="login-wecom-qr"`)
		if w.Code != http.StatusOK || has != tc.want {
			t.Errorf("%s: HTTP %d, QR link shown %v, want %v", tc.name, w.Code, has, tc.want)
		}
		if tc.want && !strings.Contains(w.Body.String(), "/admin/login/wecom/qr?next=%2Fadmin%2Fusers") {
			t.Errorf("%s: the QR link loses next", tc.name)
		}
	}
}
