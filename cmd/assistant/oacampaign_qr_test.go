package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// controlPost calls the sandbox control API and decodes its JSON answer.
func controlPost(t *testing.T, control, path string, in, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(control+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s: %d %v", path, resp.StatusCode, e)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// registerAs opens link in WeChat's browser as the sandbox person named
// nickname (found through the OAuth picker's search) and submits the form.
func registerAs(t *testing.T, ctx context.Context, link, nickname, name, phone string) {
	t.Helper()
	person := `//a[@data-testid="pick-person" and text()="` + nickname + `"]`
	var done string
	err := chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`[data-testid="picker-search"]`),
		chromedp.SendKeys(`[data-testid="picker-search"]`, nickname+"\n"),
		chromedp.WaitVisible(person, chromedp.BySearch),
		chromedp.Click(person, chromedp.BySearch),
		chromedp.WaitVisible(`[data-testid="reg-form"]`),
		chromedp.SendKeys(`[data-testid="input-f.name"]`, name),
		chromedp.SendKeys(`[data-testid="input-phone"]`, phone),
		chromedp.Click(`[data-testid="consent-box"]`),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="form-done"]`),
		chromedp.Text(`[data-testid="done-message"]`, &done),
	)
	if err != nil || done == "" {
		t.Fatalf("registration through %s: %v (%q)", link, err, done)
	}
}

var reReplyLink = regexp.MustCompile(`<a href="([^"]+)">`)

// The OA QR code loop on the demo server (safe mode): an admin creates a
// code with a text reply linking the demo form in chromium and sees its
// image and reply; a new fan scans it and gets the reply (the sandbox
// opened the sealed reply and checked its signature), registers through
// its link, scans again as a fan; the page then counts 2 scans, 1 follow
// and 1 registration, attributed to the code.
func TestOAQRCodeScanReplyRegisterInBrowser(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	out := strings.Join(startDemoServer(t, dsn, t.TempDir()), "\n")
	m := reAdminLine.FindStringSubmatch(out)
	c := regexp.MustCompile(`sandbox\s+(http\S+)/\s`).FindStringSubmatch(out)
	if m == nil || c == nil {
		t.Fatalf("demo output lacks the admin or sandbox line:\n%s", out)
	}
	u := must(url.Parse(m[1]))
	base, control := u.Scheme+"://"+u.Host, c[1]
	db := pgtest.Open(t, dsn)
	var slug string
	if err := db.Get(&slug, `SELECT slug FROM forms WHERE published ORDER BY id LIMIT 1`); err != nil {
		t.Fatal(err)
	}

	admin := browsertest.New(t, "", 150*time.Second)
	var img bool
	var preview, link string
	signIn := chromedp.Tasks{
		chromedp.Navigate(m[1]),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`[data-testid="login-name"]`, m[2]),
		chromedp.SendKeys(`[data-testid="login-password"]`, m[3]),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="admin-user"]`),
	}
	err := chromedp.Run(admin, signIn,
		chromedp.Navigate(base+"/admin/oaqr"),
		chromedp.WaitVisible(`[data-testid="oaqr-form"]`),
		chromedp.SendKeys(`[data-testid="oaqr-form"] input[name="name"]`, "地铁海报"),
		chromedp.SendKeys(`[data-testid="oaqr-form"] input[name="code"]`, "metro_2026"),
		chromedp.Click(`[data-testid="oaqr-form"] input[name="permanent"]`),
		chromedp.SendKeys(`[data-testid="oaqr-form"] textarea[name="reply_text"]`, "感谢关注！春季试驾报名请点："),
		chromedp.SetValue(`[data-testid="oaqr-form-select"]`, slug),
		chromedp.Click(`[data-testid="oaqr-create"]`),
		chromedp.WaitVisible(`[data-testid="oaqr-row"][data-code="metro_2026"] [data-testid="oaqr-image"]`),
		chromedp.Evaluate(`document.querySelector('[data-testid="oaqr-image"]').naturalWidth > 0`, &img),
		chromedp.Text(`[data-testid="oaqr-reply-text"]`, &preview),
		chromedp.AttributeValue(`[data-testid="oaqr-reply-link"]`, "href", &link, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, admin, "oaqr-created")
	if !img || preview != "感谢关注！春季试驾报名请点：" || !strings.Contains(link, "/f/"+slug+"?") {
		t.Fatalf("image shown %v, preview %q, link %q", img, preview, link)
	}

	var fan sandbox.WeChatUser
	controlPost(t, control, "/api/wechat-users", sandbox.NewWeChatUser{Nickname: "扫码新粉丝"}, &fan)
	var r sandbox.QRReply
	controlPost(t, control, "/api/oa/qr-scan", sandbox.QRScanInput{WeChatUser: fan.ID, Scene: "metro_2026"}, &r)
	lm := reReplyLink.FindStringSubmatch(r.Content)
	if r.Event != "subscribe" || !r.Encrypted || r.Error != "" || r.MsgType != "text" || lm == nil {
		t.Fatalf("reply to the new fan: %+v", r)
	}
	registerAs(t, browsertest.New(t, browsertest.WeChatUA, 90*time.Second), strings.ReplaceAll(lm[1], "&amp;", "&"),
		fan.Nickname, "李雷", "13987650001")
	controlPost(t, control, "/api/oa/qr-scan", sandbox.QRScanInput{WeChatUser: fan.ID, Scene: "metro_2026"}, &r)
	if r.Event != "SCAN" || r.Error != "" || r.MsgType != "text" {
		t.Fatalf("reply to the fan scanning again: %+v", r)
	}

	var channel string
	if err := db.Get(&channel, `SELECT channel FROM form_submissions ORDER BY id DESC LIMIT 1`); err != nil || channel != "metro_2026" {
		t.Fatalf("the registration's channel = %q (%v)", channel, err)
	}
	// The WeChat browser shares chromium's cookie store and cleared it.
	if err := chromedp.Run(admin, signIn); err != nil {
		t.Fatal(err)
	}
	counts := waitCounts(t, admin, base, "2/1/1")
	browsertest.Screenshot(t, admin, "oaqr-counts")
	if counts != "2/1/1" {
		t.Fatalf("scans/follows/registrations = %s, want 2/1/1", counts)
	}
}

// waitCounts reloads the QR code page until the row shows want (the scans
// are processed by the inbox workers in the background).
func waitCounts(t *testing.T, ctx context.Context, base, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		var scans, follows, regs string
		row := `[data-testid="oaqr-row"][data-code="metro_2026"] `
		err := chromedp.Run(ctx, chromedp.Navigate(base+"/admin/oaqr"), chromedp.WaitVisible(row+`[data-testid="oaqr-scans"]`),
			chromedp.Text(row+`[data-testid="oaqr-scans"]`, &scans), chromedp.Text(row+`[data-testid="oaqr-follows"]`, &follows),
			chromedp.Text(row+`[data-testid="oaqr-registrations"]`, &regs))
		if err != nil {
			t.Fatal(err)
		}
		if got = scans + "/" + follows + "/" + regs; got == want {
			break
		}
		if time.Now().Add(5 * time.Second).After(deadline) {
			t.Logf("counts so far %s", got)
		}
	}
	return got
}
