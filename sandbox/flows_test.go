package sandbox

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// follow302 requests an authorize URL and returns the redirect Location.
func follow302(t *testing.T, u string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: HTTP %d, want 302", u, resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestWeComOAuthCodeSingleUse(t *testing.T) {
	e := start(t)
	e.seedSmall("zhangsan", 0)
	c := e.s.Options().Corp
	q := url.Values{"appid": {c.CorpID}, "redirect_uri": {"https://app.example.com/auth/cb?x=1"}, "response_type": {"code"},
		"scope": {"snsapi_base"}, "state": {"s42"}, "agentid": {"1000002"}, "sandbox_pick": {"zhangsan"}}
	loc := follow302(t, e.s.URLs().OAuth+"/connect/oauth2/authorize?"+q.Encode())
	if loc.Query().Get("state") != "s42" || loc.Query().Get("x") != "1" || loc.Host != "app.example.com" {
		t.Fatalf("redirect = %s", loc)
	}
	tok := e.wecomToken()
	code := url.Values{"code": {loc.Query().Get("code")}}
	if out := e.wecom("GET", "/cgi-bin/auth/getuserinfo", tok, code, nil); out["userid"] != "zhangsan" {
		t.Fatalf("getuserinfo = %v", out)
	}
	wantErrcode(t, e.wecom("GET", "/cgi-bin/auth/getuserinfo", tok, code, nil), 40029)
	loc = follow302(t, e.s.URLs().OAuth+"/connect/oauth2/authorize?"+q.Encode())
	e.clock.Advance(5*time.Minute + time.Second)
	wantErrcode(t, e.wecom("GET", "/cgi-bin/auth/getuserinfo", e.wecomToken(), url.Values{"code": {loc.Query().Get("code")}}, nil), 40029)
}

func TestOAOAuthScopes(t *testing.T) {
	e := start(t)
	u, _ := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "小明"})
	o := e.s.Options().Official
	exchange := func(scope string) map[string]any {
		q := url.Values{"appid": {o.AppID}, "redirect_uri": {"https://app.example.com/m"}, "response_type": {"code"},
			"scope": {scope}, "state": {"x"}, "sandbox_pick": {u.ID}}
		loc := follow302(t, e.s.URLs().OAuth+"/connect/oauth2/authorize?"+q.Encode())
		p := url.Values{"appid": {o.AppID}, "secret": {o.Secret}, "code": {loc.Query().Get("code")}, "grant_type": {"authorization_code"}}
		first := e.do("GET", e.s.URLs().OfficialAPI, "/sns/oauth2/access_token", p, nil)
		wantErrcode(t, e.do("GET", e.s.URLs().OfficialAPI, "/sns/oauth2/access_token", p, nil), 40163)
		return first
	}
	base := exchange("snsapi_base")
	if base["openid"] != u.OAOpenID || base["unionid"] != nil {
		t.Fatalf("snsapi_base = %v (no unionid expected)", base)
	}
	info := exchange("snsapi_userinfo")
	if info["unionid"] != u.UnionID {
		t.Fatalf("snsapi_userinfo = %v", info)
	}
	ui := e.do("GET", e.s.URLs().OfficialAPI, "/sns/userinfo", url.Values{"access_token": {info["access_token"].(string)}, "openid": {u.OAOpenID}}, nil)
	if ui["nickname"] != "小明" || ui["unionid"] != u.UnionID {
		t.Fatalf("userinfo = %v", ui)
	}
	wantErrcode(t, e.do("GET", e.s.URLs().OfficialAPI, "/sns/userinfo", url.Values{"access_token": {base["access_token"].(string)}, "openid": {u.OAOpenID}}, nil), 48001)
}

func TestOATokenRotationOverlap(t *testing.T) {
	e := start(t)
	o := e.s.Options().Official
	get := func() string {
		out := e.do("GET", e.s.URLs().OfficialAPI, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"},
			"appid": {o.AppID}, "secret": {o.Secret}, "neededText": {""}}, nil)
		return out["access_token"].(string)
	}
	call := func(tok string) map[string]any {
		return e.do("GET", e.s.URLs().OfficialAPI, "/cgi-bin/user/get", url.Values{"access_token": {tok}}, nil)
	}
	old := get()
	fresh := get()
	if old == fresh {
		t.Fatal("every OA token call mints a new token")
	}
	wantErrcode(t, call(old), 0)
	e.clock.Advance(5*time.Minute + time.Second)
	wantErrcode(t, call(old), 40001)
	wantErrcode(t, call(fresh), 0)
	e.clock.Advance(2 * time.Hour)
	wantErrcode(t, call(fresh), 42001)
	wantErrcode(t, call("garbage"), 40014)
}

func TestWelcomeCodeSingleUseAndExpiry(t *testing.T) {
	e := start(t)
	e.seedSmall("zhangsan", 0)
	tok := e.wecomToken()
	send := func(code string) map[string]any {
		return e.wecom("POST", "/cgi-bin/externalcontact/send_welcome_msg", tok, nil,
			map[string]any{"welcome_code": code, "text": map[string]string{"content": "欢迎"}})
	}
	add := func() AddCustomerResult {
		u, _ := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "客户"})
		res, err := e.s.AddCustomer(AddCustomerInput{WeChatUser: u.ID, EmployeeUserID: "zhangsan"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := add()
	wantErrcode(t, send(first.WelcomeCode), 0)
	wantErrcode(t, send(first.WelcomeCode), 41051)
	late := add()
	e.clock.Advance(21 * time.Second)
	wantErrcode(t, send(late.WelcomeCode), 41050)
	wantErrcode(t, send(""), 41049)
	if out := e.s.Outbox(OutboxWelcome); len(out) != 1 || out[0].Keys["external_userid"] != first.ExternalUserID {
		t.Fatalf("outbox = %+v", out)
	}
}

func TestFaultsErrcodeTimesAndReset(t *testing.T) {
	e := start(t)
	e.seedSmall("zhangsan", 1)
	tok := e.wecomToken()
	path := "/cgi-bin/externalcontact/list"
	q := url.Values{"userid": {"zhangsan"}}
	if _, err := e.s.AddFault(Fault{Path: path, ErrCode: 42001, Times: 1}); err != nil {
		t.Fatal(err)
	}
	wantErrcode(t, e.wecom("GET", path, tok, q, nil), 42001)
	wantErrcode(t, e.wecom("GET", path, tok, q, nil), 0)
	if _, err := e.s.AddFault(Fault{Path: path, Reset: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	// A fresh connection: Go's client silently retries a GET that failed on a reused one.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(e.s.URLs().WeComAPI + path + "?" + q.Encode() + "&access_token=" + tok); err == nil {
		t.Fatal("a reset fault must drop the connection")
	}
	if _, err := e.s.AddFault(Fault{Path: path, ErrCode: -1, Times: -1, Rate: 0.5}); err != nil {
		t.Fatal(err)
	}
	busy := 0
	for range 200 {
		if errcode(e.wecom("GET", path, tok, q, nil)) == -1 {
			busy++
		}
	}
	if busy < 60 || busy > 140 {
		t.Fatalf("rate 0.5 gave %d/200 busy answers", busy)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.json")
	s1, err := Start(context.Background(), Options{SnapshotPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.CreateEmployee(NewEmployee{UserID: "zhangsan", Name: "张三"}); err != nil {
		t.Fatal(err)
	}
	u, _ := s1.CreateWeChatUser(NewWeChatUser{Nickname: "客户"})
	res, err := s1.AddCustomer(AddCustomerInput{WeChatUser: u.ID, EmployeeUserID: "zhangsan", State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	corp := s1.Options().Corp
	if err := s1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2, err := Start(context.Background(), Options{SnapshotPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	if s2.Options().Corp.CorpID != corp.CorpID || s2.Options().Corp.AgentSecret != corp.AgentSecret {
		t.Fatal("generated credentials must survive a restart")
	}
	cs := s2.Customers("zhangsan", 10)
	if len(cs) != 1 || cs[0].ExternalUserID != res.ExternalUserID || cs[0].Follows[0].State != "st" {
		t.Fatalf("customers after restart = %+v", cs)
	}
	u2, _ := s2.CreateWeChatUser(NewWeChatUser{Nickname: "新客户"})
	if u2.ID == u.ID || u2.UnionID == u.UnionID {
		t.Fatal("ids must not repeat after a restart")
	}
}
