package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// fillAndSubmit walks the form in the WeChat browser: OAuth picker, consent
// unchecked, submit without consent (error in place), then with consent.
func fillAndSubmit(t *testing.T, ctx context.Context, link, nickname, name, phone string) {
	t.Helper()
	var consent bool
	var errText, loc, typed, done string
	err := chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`//a[@data-testid="pick-person" and text()="`+nickname+`"]`, chromedp.BySearch),
		chromedp.Click(`//a[@data-testid="pick-person" and text()="`+nickname+`"]`, chromedp.BySearch),
		chromedp.WaitVisible(`[data-testid="reg-form"]`),
		chromedp.Evaluate(`document.querySelector('[data-testid="consent-box"]').checked`, &consent),
		chromedp.SendKeys(`[data-testid="input-f.name"]`, name),
		chromedp.SendKeys(`[data-testid="input-phone"]`, phone),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="error-consent"]`),
		chromedp.Text(`[data-testid="error-consent"]`, &errText),
		chromedp.Location(&loc),
		chromedp.Value(`[data-testid="input-f.name"]`, &typed),
		chromedp.Click(`[data-testid="consent-box"]`),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="form-done"]`),
		chromedp.Text(`[data-testid="done-message"]`, &done),
	)
	if err != nil {
		t.Fatal(err)
	}
	if consent || errText != "请阅读并同意隐私政策" || strings.Contains(loc, "/done") || typed != name || done != "报名成功！" {
		t.Fatalf("consent checked %v, error %q at %s, typed %q, done %q", consent, errText, loc, typed, done)
	}
}

// The acceptance flow in chromium with the WeChat user agent and the
// sandbox's OAuth page: a follower registers; then a second person opens a
// link sent from the sidebar and their chat's external_userid is linked too.
func TestFormInWeChatBrowser(t *testing.T) {
	env := newFormsEnv(t, formsEnvOptions{})
	f := env.createForm(t, nil)
	p1 := env.wechatPerson(t, "小王", "13912345678", true)
	p2 := env.wechatPerson(t, "小赵", "13612345678", true)
	ctx := browsertest.New(t, browsertest.WeChatUA, 90*time.Second)

	xss := "<script>alert(1)</script>"
	fillAndSubmit(t, ctx, env.URL+"/f/"+f.Slug, p1.Nickname, xss, "13912345678")
	browsertest.Screenshot(t, ctx, "form-done")
	env.checkUser(t, "13912345678", map[string]string{"oa_openid": p1.OAOpenID, "unionid": p1.UnionID})

	if err := chromedp.Run(ctx, network.ClearBrowserCookies()); err != nil {
		t.Fatal(err)
	}
	corp := env.SB.Options().Corp.CorpID
	link := env.Attr.AttributedLink(env.URL, f, services.Attribution{Channel: "sidebar", EmployeeUserID: "zhangsan",
		ExternalUserID: p2.ExternalUserID, CorpID: corp}, time.Hour, map[string]string{"utm_campaign": "spring"})
	fillAndSubmit(t, ctx, link, p2.Nickname, "赵六", "13612345678")
	env.checkUser(t, "13612345678", map[string]string{"oa_openid": p2.OAOpenID, "unionid": p2.UnionID,
		"wecom_external_userid": p2.ExternalUserID})
	var employee, utm string
	if err := env.DB.QueryRow(`SELECT employee_userid, utm->>'utm_campaign' FROM form_submissions WHERE oa_openid = $1`,
		p2.OAOpenID).Scan(&employee, &utm); err != nil || employee != "zhangsan" || utm != "spring" {
		t.Fatalf("attribution %q utm %q %v", employee, utm, err)
	}
}

// checkUser asserts the phone's marketing user holds the given identities
// and the form_viewed and form_submitted moments.
func (env *formsEnv) checkUser(t *testing.T, phone string, want map[string]string) {
	t.Helper()
	u, err := env.IDs.FindUserByPhone(context.Background(), phone)
	if err != nil {
		t.Fatal(err)
	}
	for kind, key := range want {
		if n := env.count(t, `SELECT count(*) FROM identities WHERE user_id = $1 AND kind = $2 AND key = $3`, u.ID, kind, key); n != 1 {
			t.Errorf("user %d lacks %s", u.ID, kind)
		}
	}
	for _, kind := range []string{"form_viewed", "form_submitted"} {
		if n := env.count(t, `SELECT count(*) FROM moments m JOIN identities i ON i.id = m.identity_id
WHERE i.user_id = $1 AND m.kind = $2`, u.ID, kind); n != 1 {
			t.Errorf("user %d has %d %s moments", u.ID, n, kind)
		}
	}
}
