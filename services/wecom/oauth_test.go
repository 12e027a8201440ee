package wecom

import (
	"log/slog"
	"testing"
)

func TestAuthorizeURLParameterOrder(t *testing.T) {
	c, err := New(Config{CorpID: "ww_corp", AgentID: 1000002, AgentSecret: "s", OA: OAConfig{AppID: "wx_oa", Secret: "x"}}, NewMemoryCache(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := "https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww_corp&redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fcb%3Fnext%3D%2Fsidebar&response_type=code&scope=snsapi_base&state=abc123&agentid=1000002#wechat_redirect"
	if got := c.AuthorizeURL("https://app.example.com/auth/cb?next=/sidebar", "abc123", ""); got != want {
		t.Fatalf("AuthorizeURL =\n %s\nwant\n %s", got, want)
	}
	wantOA := "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx_oa&redirect_uri=https%3A%2F%2Fapp.example.com%2Ff%2F1&response_type=code&scope=snsapi_userinfo&state=s1#wechat_redirect"
	if got := c.OAAuthorizeURL("https://app.example.com/f/1", "s1", ScopeUserInfo); got != wantOA {
		t.Fatalf("OAAuthorizeURL =\n %s\nwant\n %s", got, wantOA)
	}
}

func TestAPIErrorAdvice(t *testing.T) {
	for _, code := range []int{40013, 40001, 60020, 48002, 41001, 40014, 42001, 45009, 45033, -1} {
		e := &APIError{Code: code, Msg: "x", Op: "op"}
		if e.Advice() == "" {
			t.Errorf("no advice for %d", code)
		}
		if !IsAPIError(e, code) || IsAPIError(e, 1) {
			t.Errorf("IsAPIError wrong for %d", code)
		}
	}
	if (&APIError{Code: 12345}).Advice() != "" {
		t.Error("advice for an unknown code")
	}
}
