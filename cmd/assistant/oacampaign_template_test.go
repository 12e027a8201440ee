package main

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// Template messages on the demo server in chromium: the admin syncs the
// templates, composes a send to a segment of the demo's fans (a fixed
// text, the date, the nickname), sees the preview, test-sends to one fan
// and sends to all; the background runner sends every message and the
// page shows the outcome of each fan and the TEMPLATESENDJOBFINISH results.
func TestTemplateMessageInBrowser(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	out := strings.Join(startDemoServer(t, dsn, t.TempDir()), "\n")
	m := reAdminLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output lacks the admin line:\n%s", out)
	}
	u := must(url.Parse(m[1]))
	base := u.Scheme + "://" + u.Host
	db := pgtest.Open(t, dsn)
	seg, err := services.NewSegmentService(db, services.NewAuditService(db)).CreateSegment(context.Background(),
		services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin},
		services.SegmentInput{Name: "公众号粉丝", Filter: services.SegmentFilter{HasKinds: []string{"oa_openid"}}})
	if err != nil {
		t.Fatal(err)
	}
	var fans int
	var openid string
	if err := db.Get(&fans, `SELECT count(*) FROM identities WHERE kind = 'oa_openid'`); err != nil || fans == 0 {
		t.Fatalf("demo fans: %d %v", fans, err)
	}
	if err := db.Get(&openid, `SELECT key FROM identities WHERE kind = 'oa_openid' ORDER BY id LIMIT 1`); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t, "", 150*time.Second)
	var preview, flash, status, sent, total string
	field := func(name string) string { return `[data-testid="tm-field"][data-name="` + name + `"] ` }
	err = chromedp.Run(ctx,
		chromedp.Navigate(m[1]),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`[data-testid="login-name"]`, m[2]),
		chromedp.SendKeys(`[data-testid="login-password"]`, m[3]),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="admin-user"]`),
		chromedp.Navigate(base+"/admin/templatemsg"),
		chromedp.Click(`[data-testid="tm-sync"]`),
		chromedp.WaitVisible(`[data-testid="tm-template"]`),
		chromedp.Click(`[data-testid="tm-new"]`),
		chromedp.WaitVisible(`[data-testid="tm-template-select"]`),
		chromedp.SetValue(`[data-testid="tm-template-select"]`, sandbox.TemplateActivity),
		chromedp.Click(`[data-testid="tm-pick"]`),
		chromedp.WaitVisible(`[data-testid="tm-form"]`),
		chromedp.SendKeys(field("thing1")+`input[name="text_thing1"]`, "春季新品试驾会"),
		chromedp.Click(field("time2")+`input[value="var"]`),
		chromedp.SetValue(field("time2")+`select`, "date"),
		chromedp.Click(field("thing3")+`input[value="var"]`),
		chromedp.SetValue(field("thing3")+`select`, "nickname"),
		chromedp.SetValue(`[data-testid="tm-segment"]`, strconv.FormatInt(seg.ID, 10)),
		chromedp.Click(`[data-testid="tm-create"]`),
		chromedp.WaitVisible(`[data-testid="tm-test-form"]`),
		chromedp.Text(`[data-testid="tm-preview"]`, &preview),
		chromedp.SetValue(`[data-testid="tm-test-form"] input[name="openid"]`, openid),
		chromedp.Click(`[data-testid="tm-test"]`),
		chromedp.WaitVisible(`[data-testid="flash"]`),
		chromedp.Text(`[data-testid="flash"]`, &flash),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(preview, "春季新品试驾会") || !regexp.MustCompile(`\d{4}年\d{2}月\d{2}日`).MatchString(preview) ||
		!strings.Contains(flash, "msgid") {
		t.Fatalf("preview %q, test send %q", preview, flash)
	}
	if err := chromedp.Run(ctx, chromedp.Click(`[data-testid="tm-start"]`), chromedp.WaitVisible(`[data-testid="tm-results"]`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err := chromedp.Run(ctx, chromedp.Reload(), chromedp.WaitVisible(`[data-testid="tm-results"]`),
			chromedp.Text(`[data-testid="tm-status"]`, &status), chromedp.Text(`[data-testid="tm-sent"]`, &sent),
			chromedp.Text(`[data-testid="tm-total"]`, &total)); err != nil {
			t.Fatal(err)
		}
		if status == "已完成" {
			break
		}
	}
	browsertest.Screenshot(t, ctx, "templatemsg-done")
	if status != "已完成" || total != strconv.Itoa(fans) || sent == "0" {
		t.Fatalf("status %q, sent %s of %s (fans %d)", status, sent, total, fans)
	}
}
