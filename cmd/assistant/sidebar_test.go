package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// TestSidebarSecurity: no session → WeCom OAuth; a forged or expired
// cookie is refused the same way; outside WeCom (no shim) the page explains;
// a member outside the app's visible range is refused at sign-in; a staff
// member cannot load a customer they do not follow, nor a guessed id (404).
func TestSidebarSecurity(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{noShim: true})
	app.employee(t, "alice", "张三")
	app.employee(t, "bob", "李四")
	_, ext := app.customer(t, "alice", "客户甲", "13912345678")

	c := noRedirect()
	loc := expectRedirect(t, c, app.URL+"/sidebar", http.StatusFound)
	for _, want := range []string{"/connect/oauth2/authorize?appid=" + app.CorpID, "scope=snsapi_base", "agentid=", "redirect_uri=" + url.QueryEscape(app.URL+"/sidebar/oauth")} {
		if !strings.Contains(loc, want) {
			t.Errorf("OAuth URL %s lacks %s", loc, want)
		}
	}
	for _, bad := range []string{"forged", "MTcwMDAwMDAwMHxiYWR8"} {
		req, _ := http.NewRequest(http.MethodGet, app.URL+"/sidebar/c/"+ext, nil)
		req.AddCookie(&http.Cookie{Name: "ma_staff", Value: bad})
		req.Header.Set("HX-Request", "true")
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != "/sidebar" {
			t.Errorf("forged cookie %q: %d %q", bad, resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
	}

	desktop := noRedirect()
	req, _ := http.NewRequest(http.MethodGet, app.URL+"/sidebar", nil)
	resp, err := desktop.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("outside WeCom: %d", resp.StatusCode)
	}

	alice, bob := noRedirect(), noRedirect()
	app.signIn(t, alice, "alice")
	app.signIn(t, bob, "bob")
	if code, body := get(t, alice, app.URL+"/sidebar", false); code != 200 || len(body) > 30*1024 || !strings.Contains(body, `data-testid="problem-signature"`) {
		t.Errorf("shell: %d, %d bytes", code, len(body))
	}
	code, body := get(t, alice, app.URL+"/sidebar/c/"+ext, true)
	if code != 200 || !strings.Contains(body, "客户甲") || len(body) > 30*1024 {
		t.Fatalf("alice's customer: %d %.300s", code, body)
	}
	for _, u := range []string{"/sidebar/c/" + ext, "/sidebar/c/" + ext + "/timeline", "/sidebar/c/wmGUESSED0001", "/sidebar/c/" + ext + "/tags"} {
		if code, body := get(t, bob, app.URL+u, true); code != http.StatusNotFound || !strings.Contains(body, "problem-not_found") {
			t.Errorf("bob GET %s: %d %.200s", u, code, body)
		}
	}

	if _, err := app.SB.AddFault(sandbox.Fault{Path: "/cgi-bin/user/get", ErrCode: 60011, ErrMsg: "no privilege to access/modify contact/party/agent", Times: 1}); err != nil {
		t.Fatal(err)
	}
	outside := noRedirect()
	loc = expectRedirect(t, outside, app.URL+"/sidebar", http.StatusFound)
	back := expectRedirect(t, outside, withPick(loc, "bob"), http.StatusFound)
	if code, body := get(t, outside, back, false); code != http.StatusForbidden || !strings.Contains(body, "problem-not_visible") {
		t.Errorf("outside the visible range: %d %.300s", code, body)
	}
}

// TestSidebarSessionExpiry: a genuine cookie older than the session age
// is refused and the browser goes back through OAuth (silent in WeCom).
func TestSidebarSessionExpiry(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{noShim: true})
	for _, tc := range []struct {
		age  time.Duration
		want int
	}{{time.Hour, http.StatusOK}, {9 * time.Hour, http.StatusFound}} {
		rec := httptest.NewRecorder()
		gc, _ := gin.CreateTestContext(rec)
		cookies := web.NewCookies[handlers.StaffSession](app.Key, "ma_staff", 24*time.Hour, false)
		if err := cookies.Write(gc, handlers.StaffSession{UserID: "alice", IssuedAt: time.Now().Add(-tc.age).Unix()}); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, app.URL+"/sidebar", nil)
		req.Header.Set("User-Agent", "wxwork/4.1.30")
		req.Header.Set("Cookie", strings.Split(rec.Header().Get("Set-Cookie"), ";")[0])
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("session %s old: %d, want %d", tc.age, resp.StatusCode, tc.want)
		}
	}
}

// browserSignIn opens the sidebar in the tab and picks the employee on the
// sandbox's OAuth page.
func browserSignIn(t *testing.T, ctx context.Context, app *sidebarApp, userID string) {
	t.Helper()
	var loc string
	err := chromedp.Run(ctx, chromedp.Navigate(app.URL+"/sidebar"), chromedp.Location(&loc))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, "oauth2/authorize") {
		if err := chromedp.Run(ctx, chromedp.Navigate(withPick(loc, userID))); err != nil {
			t.Fatal(err)
		}
	}
}

// waitJS waits (up to 5 s) until the expression is true in the page.
func waitJS(expr string) chromedp.ActionFunc {
	return func(ctx context.Context) error {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var ok bool
			if err := chromedp.Evaluate("!!("+expr+")", &ok).Do(ctx); err != nil {
				return err
			}
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("waited 5s for %s", expr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func visible(sel string) chromedp.QueryAction { return chromedp.WaitVisible(sel, chromedp.ByQuery) }

// TestSidebarBrowser: in chromium with the sandbox's ww shim, the sidebar
// opens for a customer whose moments come from four identities (fan, mini
// program, WeCom, CRM lead) and shows them newest first; a tag toggle
// reaches mark_tag (sandbox outbox) and persists; "Send" puts the form into
// the chat and records material_sent by the employee.
func TestSidebarBrowser(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{})
	app.employee(t, "alice", "张三")
	p, ext := app.customer(t, "alice", "客户甲", "13912345678")
	tag, err := app.SB.CreateCorpTag(sandbox.NewCorpTag{GroupName: "意向", Name: "高意向"})
	if err != nil {
		t.Fatal(err)
	}
	ctx0 := context.Background()
	now := time.Now()
	for _, o := range []services.Observation{
		{Source: "oa", Ref: "subscribe", OccurredAt: now.Add(-72 * time.Hour), Identities: []services.IdentityInput{
			{Kind: services.KindOAOpenID, Scope: app.OAApp, Key: p.OAOpenID}, {Kind: services.KindUnionID, Key: p.UnionID}},
			Moments: []services.MomentInput{{Kind: "oa_subscribed", Channel: "oa"}}},
		{Source: "mp", Ref: "session", OccurredAt: now.Add(-48 * time.Hour), Identities: []services.IdentityInput{
			{Kind: services.KindMPOpenID, Scope: app.MPApp, Key: p.MPOpenID}, {Kind: services.KindUnionID, Key: p.UnionID}},
			Moments: []services.MomentInput{{Kind: "mp_authorized", Channel: "mp"}}},
		{Source: "crm", Ref: "crm_lead:L-1", OccurredAt: now.Add(-24 * time.Hour), Identities: []services.IdentityInput{
			{Kind: services.KindCRMLead, Key: "L-1", Attrs: services.Attributes{Name: "甲总"}}, {Kind: services.KindPhone, Key: "13912345678", Verified: true}},
			Moments: []services.MomentInput{{Kind: "crm_created", Channel: "crm", Title: "甲总"}}},
	} {
		if _, err := app.IDs.Link(ctx0, o); err != nil {
			t.Fatal(err)
		}
	}
	form, err := app.Forms.CreateForm(ctx0, services.FormInput{Title: "春季活动报名", Description: "填写手机号领取资料",
		ConsentText: "我同意隐私政策", PrivacyURL: "https://example.com/privacy", AfterSubmit: "message", Published: true}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.SB.SetSidebarContext(sandbox.SidebarContext{Entry: "single_chat_tools", UserID: "alice", ExternalUserID: ext}); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t, "", 90*time.Second)
	browserSignIn(t, ctx, app, "alice")
	var whats []string
	err = chromedp.Run(ctx, visible(`#ma-main [data-testid="profile"]`),
		// identity_merged (the engine's own bookkeeping) is left out of the comparison.
		chromedp.Evaluate(`Array.from(document.querySelectorAll('[data-testid="moment-what"]')).map(e => e.textContent).filter(s => s.indexOf('身份合并') < 0)`, &whats))
	if err != nil {
		browsertest.Screenshot(t, ctx, "sidebar-profile")
		t.Fatal(err)
	}
	want := []string{"添加企业微信", "创建 CRM 记录", "授权小程序", "关注公众号"}
	if len(whats) != len(want) {
		t.Fatalf("moments %q, want %q", whats, want)
	}
	for i := range want {
		if !strings.HasPrefix(whats[i], want[i]) {
			t.Errorf("moment %d = %q, want %s…", i, whats[i], want[i])
		}
	}
	for _, chip := range []string{"oa_openid", "mp_openid", "wecom_external_userid", "crm_lead"} {
		if err := chromedp.Run(ctx, chromedp.WaitReady(`[data-testid="chip-`+chip+`"]`, chromedp.ByQuery)); err != nil {
			t.Errorf("chip %s: %v", chip, err)
		}
	}

	sel := `[data-testid="tag-` + tag.ID + `"]`
	var checked bool
	settled := waitJS(`!document.querySelector('.htmx-added, .htmx-settling, .htmx-request')`)
	// The server renders the checked attribute: its presence proves the round trip.
	serverChecked := `document.querySelector('` + sel + `') && document.querySelector('` + sel + `').hasAttribute('checked')`
	err = chromedp.Run(ctx, chromedp.Click(`[data-testid="tab-tags"]`, chromedp.ByQuery), chromedp.WaitReady(sel, chromedp.ByQuery), settled,
		chromedp.Evaluate(`document.querySelector('`+sel+`').click()`, nil), waitJS(serverChecked), settled,
		chromedp.Click(`[data-testid="tab-timeline"]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid="filter-all"]`, chromedp.ByQuery), settled,
		chromedp.Click(`[data-testid="tab-tags"]`, chromedp.ByQuery), chromedp.WaitReady(sel, chromedp.ByQuery), settled,
		chromedp.Evaluate(serverChecked, &checked))
	if err != nil || !checked {
		var html string
		_ = chromedp.Run(ctx, chromedp.OuterHTML(`#ma-tab-panel`, &html, chromedp.ByQuery))
		t.Logf("tags panel: %s; outbox %+v", html, app.SB.Outbox("mark_tag"))
		browsertest.Screenshot(t, ctx, "sidebar-tags")
		t.Fatalf("tag toggle: checked=%v %v", checked, err)
	}
	if marks := app.SB.Outbox("mark_tag"); len(marks) != 1 || !strings.Contains(string(marks[0].Payload), tag.ID) {
		t.Errorf("mark_tag outbox %+v", marks)
	}

	var status, firstWhat, firstEmp string
	err = chromedp.Run(ctx, chromedp.Click(`[data-testid="tab-materials"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid="send-`+form.Slug+`"]`, chromedp.ByQuery), settled,
		chromedp.Click(`[data-testid="send-`+form.Slug+`"]`, chromedp.ByQuery),
		waitJS(`document.querySelector('[data-testid="send-status"]').textContent.indexOf('已发送') >= 0`),
		chromedp.Text(`[data-testid="send-status"]`, &status, chromedp.ByQuery),
		chromedp.Click(`[data-testid="tab-timeline"]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid="filter-all"]`, chromedp.ByQuery), settled,
		chromedp.Text(`[data-testid="moment-what"]`, &firstWhat, chromedp.ByQuery),
		chromedp.Text(`[data-testid="moment-employee"]`, &firstEmp, chromedp.ByQuery))
	if err != nil {
		browsertest.Screenshot(t, ctx, "sidebar-send")
		t.Fatal(err)
	}
	msgs := app.SB.Outbox("chat_message")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Payload), "/f/"+form.Slug+"?") || msgs[0].Keys["external_userid"] != ext {
		t.Errorf("chat_message outbox %+v", msgs)
	}
	if !strings.HasPrefix(firstWhat, "发送素材") || firstEmp != "张三" {
		t.Errorf("after send, first moment %q by %q", firstWhat, firstEmp)
	}
}

// TestSidebarBrowserFailures: each failure screen appears for its cause.
func TestSidebarBrowserFailures(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{})
	app.employee(t, "alice", "张三")
	_, ext := app.customer(t, "alice", "客户甲", "")
	ctx := browsertest.New(t, "", 90*time.Second)
	browserSignIn(t, ctx, app, "alice")
	open := func(t *testing.T, sc sandbox.SidebarContext, sel string) string {
		t.Helper()
		if err := app.SB.SetSidebarContext(sc); err != nil {
			t.Fatal(err)
		}
		var errs string
		if err := chromedp.Run(ctx, chromedp.Navigate(app.URL+"/sidebar"), visible(sel),
			chromedp.Text(`[data-testid="diag-errors"]`, &errs, chromedp.ByQuery)); err != nil {
			browsertest.Screenshot(t, ctx, "sidebar-"+t.Name())
			t.Fatal(err)
		}
		return errs
	}
	t.Run("not in a customer chat", func(t *testing.T) {
		open(t, sandbox.SidebarContext{Entry: "normal", UserID: "alice"}, `[data-testid="problem-not_in_chat"]`)
	})
	t.Run("no customer-contact permission", func(t *testing.T) {
		if _, err := app.SB.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/get", ErrCode: 48002, ErrMsg: "api forbidden", Times: 1}); err != nil {
			t.Fatal(err)
		}
		open(t, sandbox.SidebarContext{Entry: "single_chat_tools", UserID: "alice", ExternalUserID: ext},
			`#ma-main [data-testid="problem-no_permission"]`)
	})
	t.Run("invalid signature", func(t *testing.T) {
		key := "powerwechat.basic_service.jssdk.ticket.jsapi." + app.CorpID
		if err := app.Cache.Set(key, map[string]any{"ticket": "not-a-ticket-the-sandbox-issued", "expires_in": 7200.0}, time.Hour); err != nil {
			t.Fatal(err)
		}
		defer app.Cache.Delete(key)
		errs := open(t, sandbox.SidebarContext{Entry: "single_chat_tools", UserID: "alice", ExternalUserID: ext},
			`[data-testid="problem-signature"]`)
		var signed string
		_ = chromedp.Run(ctx, chromedp.Text(`[data-testid="diag-signed-url"]`, &signed, chromedp.ByQuery))
		if !strings.Contains(errs, "40093") || !strings.Contains(signed, app.URL+"/sidebar") {
			t.Errorf("diagnosis: errors %q signed %q", errs, signed)
		}
	})
}

// TestSidebarServeWiring: `assistant serve` (demo mode by default outside
// production) installs the sidebar with the settings' app and the shim.
func TestSidebarServeWiring(t *testing.T) {
	s := startServer(t, map[string]string{"DATABASE_URL": pgtest.NewDSN(t), "SANDBOX": "on", "LOG_LEVEL": "error"})
	waitStatus(t, s.URL+"/readyz", http.StatusOK, 10*time.Second)
	// Demo mode saves the sandbox settings while starting; the provider
	// re-reads them within a second.
	var loc string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/sidebar", nil)
		req.Header.Set("User-Agent", "wxwork/4.1.30")
		if resp, err := noRedirect().Do(req); err == nil {
			resp.Body.Close()
			if loc = resp.Header.Get("Location"); resp.StatusCode == http.StatusFound {
				break
			}
		}
	}
	if !strings.Contains(loc, "/connect/oauth2/authorize?appid=") || !strings.Contains(loc, "agentid=") {
		t.Errorf("sidebar without session: %s", loc)
	}
	if code, _ := get(t, noRedirect(), s.URL+"/sandbox/ww-shim.js", false); code != http.StatusOK {
		t.Errorf("shim: %d", code)
	}
}
