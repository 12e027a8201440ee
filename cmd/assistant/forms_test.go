package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services"
)

func submitValues(token, name, phone string, consent bool) url.Values {
	v := url.Values{"t": {token}, "f.name": {name}, "f.c1": {"线下"}, "phone": {phone}}
	if consent {
		v.Set("consent", "1")
	}
	return v
}

// The WeChat flow over plain HTTP: silent snsapi_base OAuth, unionid from
// user/info (a follower), form_viewed, submission, PRG; then a replayed
// code and a wrong state are refused and store nothing.
func TestFormWeChatOAuthOverHTTP(t *testing.T) {
	env := newFormsEnv(t, formsEnvOptions{})
	f := env.createForm(t, nil)
	p := env.wechatPerson(t, "小王", "13912345678", true)
	b := newBrowser(t, wechatUA)
	b.pick = p.ID
	status, page := b.get(env.URL + "/f/" + f.Slug)
	if status != 200 || !strings.Contains(page, `data-testid="form-wechat"`) {
		t.Fatalf("form page after OAuth: %d %.300s", status, page)
	}
	replay := b.oauth
	if replay == "" {
		t.Fatal("no OAuth return seen")
	}
	if n := env.count(t, `SELECT count(*) FROM moments WHERE kind = 'form_viewed'`); n != 1 {
		t.Fatalf("%d form_viewed moments", n)
	}
	b.get(env.URL + "/f/" + f.Slug) // same day: no second view moment
	status, _, resp := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, submitValues(pageToken(t, page), "王小明", "139 1234 5678", true))
	if status != 200 || !strings.Contains(resp.Request.URL.Path, "/done") {
		t.Fatalf("submit: %d %s", status, resp.Request.URL)
	}
	u, err := env.IDs.FindUserByPhone(context.Background(), "13912345678")
	if err != nil {
		t.Fatal(err)
	}
	kinds := env.count(t, `SELECT count(*) FROM identities WHERE user_id = $1 AND
 ((kind = 'oa_openid' AND key = $2) OR (kind = 'unionid' AND key = $3) OR kind = 'phone')`, u.ID, p.OAOpenID, p.UnionID)
	views := env.count(t, `SELECT count(*) FROM moments WHERE kind = 'form_viewed'`)
	if kinds != 3 || views != 1 {
		t.Fatalf("identities %d (want oa_openid, unionid, phone), views %d", kinds, views)
	}
	before := env.count(t, `SELECT count(*) FROM identities`) + env.count(t, `SELECT count(*) FROM moments`)

	b.noAuto = true
	status, body := b.get(replay) // the state was used: refused
	if status != http.StatusBadRequest || !strings.Contains(body, `data-testid="auth-retry"`) {
		t.Fatalf("replayed return: %d %.300s", status, body)
	}
	other := newBrowser(t, wechatUA)
	other.noAuto = true
	status, _, resp = other.do(http.MethodGet, env.URL+"/f/"+f.Slug, nil)
	if status != http.StatusFound {
		t.Fatalf("fresh visitor: %d", status)
	}
	auth, _ := url.Parse(resp.Header.Get("Location"))
	oldCode, _ := url.Parse(replay)
	withState := func(code, state string) string {
		return env.URL + "/f/" + f.Slug + "/oauth?" + url.Values{"code": {code}, "state": {state}}.Encode()
	}
	status, body = other.get(withState(oldCode.Query().Get("code"), auth.Query().Get("state")))
	if status != http.StatusBadGateway || !strings.Contains(body, "授权码无效或已被使用") {
		t.Fatalf("replayed code with a valid state: %d %.300s", status, body)
	}
	status, _, resp = other.do(http.MethodGet, env.URL+"/f/"+f.Slug, nil)
	auth, _ = url.Parse(resp.Header.Get("Location"))
	status, body = other.get(withState("somecode", auth.Query().Get("state")+"x"))
	if status != http.StatusBadRequest || !strings.Contains(body, "授权已失效") {
		t.Fatalf("wrong state: %d %.300s", status, body)
	}
	after := env.count(t, `SELECT count(*) FROM identities`) + env.count(t, `SELECT count(*) FROM moments`)
	if after != before {
		t.Fatalf("refused OAuth returns stored %d rows", after-before)
	}
}

// Outside WeChat: phone only; bad phones, missing consent, oversized bodies
// and tampered attribution are refused or ignored; names stay inert text.
func TestFormSubmitOutsideWeChat(t *testing.T) {
	env := newFormsEnv(t, formsEnvOptions{})
	f := env.createForm(t, nil)
	b := newBrowser(t, "Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
	b.noAuto = true
	status, page := b.get(env.URL + "/f/" + f.Slug)
	if status != 200 || strings.Contains(page, "consent-box\" checked") || strings.Contains(page, `checked data-testid="consent-box"`) {
		t.Fatalf("form page: %d", status)
	}
	token := pageToken(t, page)
	xss := "<script>alert(1)</script>"
	for _, c := range []struct{ phone, want string }{
		{"12345", "手机号格式不正确"}, {"+1 415 555 2671", "请填写中国大陆手机号"}, {"", "请填写手机号"},
	} {
		status, body, _ := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, submitValues(token, xss, c.phone, true))
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) {
			t.Fatalf("phone %q: %d", c.phone, status)
		}
		if strings.Contains(body, xss) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatalf("name not escaped in the re-shown form")
		}
	}
	status, body, _ := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, submitValues(token, xss, "13912345678", false))
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-consent"`) {
		t.Fatalf("no consent: %d", status)
	}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/f/"+f.Slug, strings.NewReader(submitValues(token, "x", "12345", true).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	hx, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := io.ReadAll(hx.Body)
	hx.Body.Close()
	if hx.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(strings.TrimSpace(string(frag)), "<form") ||
		strings.Contains(string(frag), "<html") || !strings.Contains(string(frag), `data-testid="error-phone"`) {
		t.Fatalf("htmx 422 is not the form fragment: %d %.200s", hx.StatusCode, frag)
	}
	big := submitValues(token, strings.Repeat("x", 70<<10), "13912345678", true)
	if status, _, _ := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, big); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", status)
	}
	if n := env.count(t, `SELECT count(*) FROM form_submissions`) + env.count(t, `SELECT count(*) FROM identities`); n != 0 {
		t.Fatalf("refused submissions stored %d rows", n)
	}
	good := env.Attr.Sign(services.Attribution{EmployeeUserID: "zhangsan", Channel: "sidebar", MaterialID: f.Slug}, time.Hour)
	v := submitValues(token, xss, "１３９１２３４５６７８", true) // full-width digits are valid
	v.Set("a", good[:len(good)-3]+"AAA")               // tampered
	v.Set("utm_source", "poster")
	status, _, resp := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, v)
	if status != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/f/"+f.Slug+"/done?s=") {
		t.Fatalf("submit: %d %s", status, resp.Header.Get("Location"))
	}
	// a refresh / retried POST with the same token makes no second row
	if status, _, resp2 := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, v); status != http.StatusSeeOther ||
		resp2.Header.Get("Location") != resp.Header.Get("Location") {
		t.Fatalf("retried POST: %d", status)
	}
	var row struct {
		Employee string `db:"employee_userid"`
		UTM      string `db:"utm"`
		Source   string `db:"source"`
	}
	if err := env.DB.Get(&row, `SELECT employee_userid, utm::text AS utm, source FROM form_submissions`); err != nil {
		t.Fatal(err)
	}
	if row.Employee != "" || row.UTM != `{"utm_source": "poster"}` || row.Source != "web" {
		t.Fatalf("stored %+v", row)
	}
	_, done := b.get(env.URL + resp.Header.Get("Location"))
	if !strings.Contains(done, "报名成功！") {
		t.Fatalf("done page: %.300s", done)
	}
	env.checkAdminShowsInert(t, f, xss)
}

// checkAdminShowsInert signs in and reads the submissions page and the CSV.
func (env *formsEnv) checkAdminShowsInert(t *testing.T, f services.Form, xss string) {
	t.Helper()
	if _, err := env.Admin.CreateAdmin(context.Background(), "ops", "a long enough password", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	a := newBrowser(t, "Mozilla/5.0 Chrome/120")
	if status, _, _ := a.do(http.MethodPost, env.URL+"/admin/login", url.Values{"name": {"ops"}, "password": {"a long enough password"}}); status != 200 {
		t.Fatalf("login: %d", status)
	}
	status, page := a.get(fmt.Sprintf("%s/admin/forms/%d/submissions", env.URL, f.ID))
	if status != 200 || strings.Contains(page, xss) || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("admin submissions: %d %.500s", status, page)
	}
	status, csv := a.get(fmt.Sprintf("%s/admin/forms/%d/submissions.csv", env.URL, f.ID))
	if status != 200 || !strings.Contains(csv, xss) || !strings.Contains(csv, "+8613912345678") {
		t.Fatalf("csv: %d %q", status, csv)
	}
	if n := env.count(t, `SELECT count(*) FROM audit_log WHERE action = 'submissions_exported'`); n != 1 {
		t.Fatalf("export audited %d times", n)
	}
	status, list := a.get(env.URL + "/admin/forms")
	if status != 200 || !strings.Contains(list, f.Title) {
		t.Fatalf("forms list: %d", status)
	}
}

// A form that requires WeChat identity: outside WeChat the "open in WeChat"
// page with a QR code; inside, a non-follower goes through snsapi_userinfo.
func TestFormRequiresWeChat(t *testing.T) {
	env := newFormsEnv(t, formsEnvOptions{})
	f := env.createForm(t, func(in *services.FormInput) { in.RequireWeChat = true })
	out := newBrowser(t, "Mozilla/5.0 Chrome/120")
	status, page := out.get(env.URL + "/f/" + f.Slug + "?utm_source=poster")
	if status != 200 || !strings.Contains(page, `data-testid="open-qr"`) || !strings.Contains(page, "data:image/png;base64,") ||
		!strings.Contains(page, "utm_source=poster") {
		t.Fatalf("open in WeChat: %d %.300s", status, page)
	}
	p := env.wechatPerson(t, "小李", "13812345678", false) // not a follower: user/info has no unionid
	b := newBrowser(t, wechatUA)
	b.pick = p.ID
	status, page = b.get(env.URL + "/f/" + f.Slug)
	if status != 200 || !strings.Contains(page, `data-testid="reg-form"`) {
		t.Fatalf("after userinfo OAuth: %d %.300s", status, page)
	}
	status, _, resp := b.do(http.MethodPost, env.URL+"/f/"+f.Slug, submitValues(pageToken(t, page), "李", "13812345678", true))
	if status != 200 || !strings.Contains(resp.Request.URL.Path, "/done") {
		t.Fatalf("submit: %d", status)
	}
	if n := env.count(t, `SELECT count(*) FROM identities WHERE kind = 'unionid' AND key = $1`, p.UnionID); n != 1 {
		t.Fatal("unionid not linked")
	}
	refuse := newBrowser(t, wechatUA)
	refuse.noAuto = true
	_, _, resp = refuse.do(http.MethodGet, env.URL+"/f/"+f.Slug, nil)
	state, _ := url.Parse(resp.Header.Get("Location"))
	status, page = refuse.get(env.URL + "/f/" + f.Slug + "/oauth?state=" + state.Query().Get("state"))
	if status != 200 || !strings.Contains(page, "你取消了微信授权") || strings.Contains(page, "auth-skip") {
		t.Fatalf("cancelled: %d %.300s", status, page)
	}
}

func mpPost(t *testing.T, url, token string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestMiniProgramAPI(t *testing.T) {
	env := newFormsEnv(t, formsEnvOptions{})
	f := env.createForm(t, nil)
	p := env.wechatPerson(t, "小张", "13712345678", false)
	code, _ := env.SB.MPLoginCode(p.ID)
	status, out := mpPost(t, env.URL+"/api/mp/session", "", map[string]string{"code": code})
	token, _ := out["token"].(string)
	if status != 200 || token == "" {
		t.Fatalf("session: %d %v", status, out)
	}
	if status, out = mpPost(t, env.URL+"/api/mp/session", "", map[string]string{"code": code}); status != 422 || out["code"] != "invalid" {
		t.Fatalf("reused code: %d %v", status, out)
	}
	phoneCode, _ := env.SB.MPPhoneCode(p.ID)
	status, out = mpPost(t, env.URL+"/api/mp/phone", token, map[string]string{"code": phoneCode})
	token2, _ := out["token"].(string)
	if status != 200 || out["phone"] != "137****5678" {
		t.Fatalf("phone: %d %v", status, out)
	}
	body := map[string]any{"answers": map[string]any{"name": "张", "c1": "线上"}, "consent": true, "request_id": "mp-req-000001"}
	if status, out = mpPost(t, env.URL+"/api/mp/forms/"+f.Slug+"/submissions", "forged", body); status != 401 {
		t.Fatalf("forged session: %d %v", status, out)
	}
	status, out = mpPost(t, env.URL+"/api/mp/forms/"+f.Slug+"/submissions", token2, body)
	if status != 201 || out["phone_verified"] != true {
		t.Fatalf("submit: %d %v", status, out)
	}
	if status, out = mpPost(t, env.URL+"/api/mp/forms/"+f.Slug+"/submissions", token2, body); status != 200 || out["duplicate"] != true {
		t.Fatalf("retry: %d %v", status, out)
	}
	u, err := env.IDs.FindUserByPhone(context.Background(), "13712345678")
	if err != nil {
		t.Fatal(err)
	}
	if n := env.count(t, `SELECT count(*) FROM identities WHERE user_id = $1 AND kind IN ('mp_openid', 'unionid', 'phone')
 AND (kind <> 'phone' OR verified)`, u.ID); n != 3 {
		t.Fatalf("%d of mp_openid, unionid, verified phone", n)
	}
}
