package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// An admin saves the WeCom connection in chromium: the secrets are accepted,
// shown afterwards only as "已设置", never echoed into the page.
func TestSettingsSaveInBrowser(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	password := createAdmin(t, dsn, "ops")
	s := startServer(t, map[string]string{"DATABASE_URL": dsn})
	ctx := browsertest.New(t, "", 90*time.Second)
	const secret = "agent-secret-value-4f9a"
	var flash, page string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL+"/admin/settings"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`[data-testid="login-name"]`, "ops"),
		chromedp.SendKeys(`[data-testid="login-password"]`, password),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="settings-form"]`),
		chromedp.SendKeys(`[data-testid="field-corp_id"]`, "ww0123456789abcdef"),
		chromedp.SendKeys(`[data-testid="field-agent_id"]`, "1000002"),
		chromedp.SendKeys(`[data-testid="field-agent_secret"]`, secret),
		chromedp.SendKeys(`[data-testid="field-callback_token"]`, "Tok3nForCallbacks"),
		chromedp.SendKeys(`[data-testid="field-callback_aes_key"]`, "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
		chromedp.Click(`[data-testid="settings-save"]`),
		chromedp.WaitVisible(`[data-testid="settings-flash"]`),
		chromedp.Text(`[data-testid="settings-flash"]`, &flash),
		chromedp.WaitVisible(`[data-testid="set-agent_secret"]`),
		chromedp.OuterHTML(`html`, &page),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "settings-saved")
	if strings.Contains(page, secret) || strings.Contains(page, "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C") {
		t.Fatal("a saved secret is echoed into the settings page")
	}
	if !strings.Contains(page, `data-testid="set-callback_aes_key"`) || !strings.Contains(page, "ww0123456789abcdef") {
		t.Fatalf("saved values not shown as set (flash %q)", flash)
	}
	db := pgtest.Open(t, dsn)
	var audited int
	if err := db.Get(&audited, `SELECT count(*) FROM audit_log WHERE action = 'settings_changed'`); err != nil {
		t.Fatal(err)
	}
	var leaked int
	_ = db.Get(&leaked, `SELECT count(*) FROM audit_log WHERE detail::text LIKE '%' || $1 || '%'`, secret)
	if audited != 1 || leaked != 0 {
		t.Fatalf("audit rows %d, rows holding the secret %d", audited, leaked)
	}
}
