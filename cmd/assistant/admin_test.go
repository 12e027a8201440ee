package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// createAdmin runs `assistant admin create` and returns the generated password.
func createAdmin(t *testing.T, dsn, name string) string {
	t.Helper()
	var out strings.Builder
	env := map[string]string{"DATABASE_URL": dsn, "DATA_DIR": t.TempDir()}
	if err := run(t.Context(), []string{"admin", "create", "--name", name}, &out, envOf(env)); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`password \(shown once, store it now\): (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no password printed: %q", out.String())
	}
	return m[1]
}

func TestBootstrapSignInInBrowser(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	password := createAdmin(t, dsn, "ops")
	s := startServer(t, map[string]string{"DATABASE_URL": dsn})
	ctx := browsertest.New(t, "", 90*time.Second)

	var errText, user, activity, loc string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL+"/admin"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.Location(&loc),
		chromedp.SendKeys(`[data-testid="login-name"]`, "ops"),
		chromedp.SendKeys(`[data-testid="login-password"]`, "not the password"),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="login-error"]`),
		chromedp.Text(`[data-testid="login-error"]`, &errText),
		chromedp.SetValue(`[data-testid="login-password"]`, password),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="admin-user"]`),
		chromedp.Text(`[data-testid="admin-user"]`, &user),
		chromedp.Text(`[data-testid="recent-activity"]`, &activity),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(loc, "/admin/login?next=%2Fadmin") || errText != "用户名或密码错误" || user != "ops" {
		t.Fatalf("location %q, error %q, user %q", loc, errText, user)
	}
	if !strings.Contains(activity, "sign_in_failed") || !strings.Contains(activity, "sign_in") {
		t.Fatalf("recent activity lacks the sign-ins: %q", activity)
	}
	browsertest.Screenshot(t, ctx, "admin-home")
	err = chromedp.Run(ctx,
		chromedp.Click(`[data-testid="logout"]`),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.Navigate(s.URL+"/admin"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
	)
	if err != nil {
		t.Fatalf("after logout: %v", err)
	}
}

func TestAdminRequiresSessionAndSameOrigin(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	password := createAdmin(t, dsn, "ops")
	s := startServer(t, map[string]string{"DATABASE_URL": dsn})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noRedirect.Get(s.URL + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/login") {
		t.Fatalf("no session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"name": {"ops"}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("cross-site login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/admin", nil)
	req.AddCookie(&http.Cookie{Name: "ma_admin", Value: "forged-value"})
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("forged cookie: %d", resp.StatusCode)
	}
}
