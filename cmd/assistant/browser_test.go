package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

func TestLandingAndErrorPagesInBrowser(t *testing.T) {
	s := startServer(t, map[string]string{"DATABASE_URL": pgtest.NewDSN(t)})
	ctx := browsertest.New(t, browsertest.WeChatUA, 90*time.Second)
	var admin, notFound, rid string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(`[data-testid="link-admin"]`),
		chromedp.Text(`[data-testid="link-admin"]`, &admin),
		chromedp.Navigate(s.URL+"/no/such/page"),
		chromedp.WaitVisible(`[data-testid="error-page"]`),
		chromedp.Text(`[data-testid="error-title"]`, &notFound),
		chromedp.Text(`[data-testid="request-id"]`, &rid),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(admin, "管理后台") || notFound != "页面不存在" || len(rid) != 16 {
		t.Fatalf("admin %q, title %q, request id %q", admin, notFound, rid)
	}
	browsertest.Screenshot(t, ctx, "error-page")
}
