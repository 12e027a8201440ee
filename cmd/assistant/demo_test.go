package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// startDemo runs `assistant serve` in demo mode (empty DATA_DIR, nothing
// connected) and returns the lines it printed up to "demo ready".
func startDemoServer(t *testing.T, dsn, dataDir string) []string {
	t.Helper()
	env := map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": dataDir, "LOG_LEVEL": "warn", "DATABASE_URL": dsn, "SANDBOX": "auto"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"serve"}, pw, envOf(env))
		pw.CloseWithError(fmt.Errorf("server exited: %v", err))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	})
	lines := make(chan []string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			got = append(got, sc.Text())
			if strings.TrimSpace(sc.Text()) == "demo ready" || strings.Contains(sc.Text(), "setup failed") {
				lines <- got
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case got := <-lines:
		return got
	case err := <-done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(120 * time.Second):
		t.Fatal("demo not ready within 120s")
	}
	return nil
}

var (
	reAdminLine = regexp.MustCompile(`demo admin\s+(\S+)\s+\(user (\S+), password (\S+)\)`)
	reLink      = regexp.MustCompile(`^\s+(sidebar|micro-page|sandbox|settings|landing page)\s+(http\S+)`)
)

// TestDemoModeInBrowser: a fresh start in demo mode seeds the demo corp, and
// every link it prints works in chromium.
func TestDemoModeInBrowser(t *testing.T) {
	dsn, dataDir := pgtest.NewDSN(t), t.TempDir()
	lines := startDemoServer(t, dsn, dataDir)
	out := strings.Join(lines, "\n")
	m := reAdminLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no demo admin line in:\n%s", out)
	}
	links := map[string]string{}
	for _, l := range lines {
		if lm := reLink.FindStringSubmatch(l); lm != nil {
			links[lm[1]] = lm[2]
		}
	}
	for _, k := range []string{"sandbox", "settings", "landing page", "sidebar", "micro-page"} {
		if links[k] == "" {
			t.Fatalf("no %s link printed:\n%s", k, out)
		}
	}
	db := pgtest.Open(t, dsn)
	var employees, contacts, fans int
	_ = db.Get(&employees, `SELECT count(*) FROM wecom_employees`)
	_ = db.Get(&contacts, `SELECT count(*) FROM wecom_external_contacts`)
	_ = db.Get(&fans, `SELECT count(*) FROM oa_followers`)
	if employees != 8 || contacts == 0 || fans == 0 {
		t.Fatalf("demo corp not imported: %d employees, %d contacts, %d fans", employees, contacts, fans)
	}

	ctx := browsertest.New(t, "", 90*time.Second)
	var user, badge, landing, console string
	err := chromedp.Run(ctx,
		chromedp.Navigate(links["landing page"]),
		chromedp.WaitVisible(`body`),
		chromedp.OuterHTML(`body`, &landing),
		chromedp.Navigate(m[1]),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`[data-testid="login-name"]`, m[2]),
		chromedp.SendKeys(`[data-testid="login-password"]`, m[3]),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="admin-user"]`),
		chromedp.Text(`[data-testid="admin-user"]`, &user),
		chromedp.Navigate(links["settings"]),
		chromedp.WaitVisible(`[data-testid="sandbox-badge"]`),
		chromedp.Text(`[data-testid="sandbox-badge"]`, &badge),
		chromedp.Click(`[data-testid="test-wecom"]`),
		chromedp.WaitVisible(`[data-testid="test-result-wecom"]`),
		chromedp.Navigate(links["sandbox"]),
		chromedp.WaitVisible(`body`),
		chromedp.Text(`body`, &console),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "demo-settings")
	if user != "demo" || !strings.Contains(badge, "沙箱") || !strings.Contains(landing, links["sandbox"]) || console == "" {
		t.Fatalf("user %q badge %q; landing links the console: %v", user, badge, strings.Contains(landing, links["sandbox"]))
	}
	// The sidebar and the micro-page must render a page, never the error page.
	for _, k := range []string{"sidebar", "micro-page"} {
		var errs []string
		err := chromedp.Run(ctx, chromedp.Navigate(links[k]), chromedp.WaitVisible(`body`),
			chromedp.Sleep(500*time.Millisecond),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-testid="error-page"]')).map(e => e.textContent)`, &errs))
		if err != nil || len(errs) > 0 {
			t.Errorf("%s link %s: %v %q", k, links[k], err, errs)
		}
	}
}
