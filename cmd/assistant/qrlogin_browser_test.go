package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// In demo mode an employee with a console role signs in by WeCom QR code in
// chromium: the sign-in page's link leads to the sandbox's WeCom login page,
// "scanning" as the employee comes back signed in.
func TestWeComQRSignInInBrowser(t *testing.T) {
	dsn, dataDir := pgtest.NewDSN(t), t.TempDir()
	lines := startDemoServer(t, dsn, dataDir)
	m := reAdminLine.FindStringSubmatch(strings.Join(lines, "\n"))
	if m == nil {
		t.Fatalf("no demo admin line in:\n%s", strings.Join(lines, "\n"))
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	base := u.Scheme + "://" + u.Host
	db := pgtest.Open(t, dsn)
	var emp struct {
		CorpID string `db:"corp_id"`
		UserID string `db:"userid"`
		Name   string `db:"name"`
	}
	if err := db.Get(&emp, `SELECT corp_id, userid, name FROM wecom_employees ORDER BY userid LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO staff_roles (corp_id, userid, role) VALUES ($1, $2, 'manager')`, emp.CorpID, emp.UserID); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t, "", 90*time.Second)
	var loginPage, user, where string
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/admin/login"),
		chromedp.WaitVisible(`[data-testid="login-wecom-qr"]`),
		chromedp.Click(`[data-testid="login-wecom-qr"]`),
		chromedp.WaitVisible(`[data-testid="wwlogin-qr"]`),
		chromedp.Location(&loginPage),
		chromedp.Click(`a[data-testid="wwlogin-scan-as"][href*="sandbox_pick=`+emp.UserID+`&"], a[data-testid="wwlogin-scan-as"][href$="sandbox_pick=`+emp.UserID+`"]`),
		chromedp.WaitVisible(`[data-testid="admin-user"]`),
		chromedp.Text(`[data-testid="admin-user"]`, &user),
		chromedp.Location(&where),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "wecom-qr-signed-in")
	if !strings.Contains(loginPage, "/wwlogin/sso/login?login_type=CorpApp") {
		t.Fatalf("QR link led to %s, not the WeCom web login page", loginPage)
	}
	if !strings.HasPrefix(where, base+"/admin") || strings.TrimSpace(user) == "" {
		t.Fatalf("after scanning: at %s as %q", where, user)
	}
	var method string
	if err := db.Get(&method, `SELECT detail->>'method' FROM audit_log WHERE action = 'sign_in' AND actor_id = $1`, emp.UserID); err != nil || method != "wecom_qr" {
		t.Fatalf("sign-in audit: %q, %v", method, err)
	}
}
