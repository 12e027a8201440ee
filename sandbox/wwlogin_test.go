package sandbox

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func webLoginQuery(c CorpConfig) url.Values {
	return url.Values{"login_type": {"CorpApp"}, "appid": {c.CorpID}, "agentid": {"1000002"},
		"redirect_uri": {"https://app.example.com/admin/login/wecom/callback"}, "state": {"s7"}}
}

// The web login page shows a QR code and the employees to scan as; scanning
// redirects with a single-use code that auth/getuserinfo exchanges.
func TestWebLoginScanAs(t *testing.T) {
	e := start(t)
	e.seedSmall("zhangsan", 1)
	q := webLoginQuery(e.s.Options().Corp)
	resp, err := http.Get(e.s.URLs().OAuth + "/wwlogin/sso/login?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-testid="wwlogin-qr"`) ||
		!strings.Contains(string(page), "sandbox_pick=zhangsan") {
		t.Fatalf("page: HTTP %d\n%s", resp.StatusCode, page)
	}
	q.Set("sandbox_pick", "zhangsan")
	loc := follow302(t, e.s.URLs().OAuth+"/wwlogin/sso/login?"+q.Encode())
	if loc.Host != "app.example.com" || loc.Query().Get("state") != "s7" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect = %s", loc)
	}
	tok, code := e.wecomToken(), url.Values{"code": {loc.Query().Get("code")}}
	if out := e.wecom("GET", "/cgi-bin/auth/getuserinfo", tok, code, nil); out["userid"] != "zhangsan" {
		t.Fatalf("getuserinfo = %v", out)
	}
	wantErrcode(t, e.wecom("GET", "/cgi-bin/auth/getuserinfo", tok, code, nil), 40029)
}

func TestWebLoginRejectsBadParameters(t *testing.T) {
	e := start(t)
	e.seedSmall("zhangsan", 0)
	c := e.s.Options().Corp
	for name, mutate := range map[string]func(url.Values){
		"service app":     func(q url.Values) { q.Set("login_type", "ServiceApp") },
		"other corp":      func(q url.Values) { q.Set("appid", "wwother") },
		"no agentid":      func(q url.Values) { q.Del("agentid") },
		"relative return": func(q url.Values) { q.Set("redirect_uri", "/admin") },
	} {
		q := webLoginQuery(c)
		mutate(q)
		resp, err := http.Get(e.s.URLs().OAuth + "/wwlogin/sso/login?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, resp.StatusCode)
		}
	}
	// Only corp members scan: a WeChat person is not offered and not accepted.
	p, err := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "客户"})
	if err != nil {
		t.Fatal(err)
	}
	q := webLoginQuery(c)
	q.Set("sandbox_pick", p.ID)
	resp, err := http.Get(e.s.URLs().OAuth + "/wwlogin/sso/login?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("scan as a non-member: HTTP %d, want 404", resp.StatusCode)
	}
}
