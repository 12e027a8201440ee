package wecom

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
)

func TestWebLoginURL(t *testing.T) {
	c := &Client{cfg: Config{CorpID: "ww1234", AgentID: 1000002}}
	want := "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=ww1234&agentid=1000002" +
		"&redirect_uri=https%3A%2F%2Fma.example.com%2Fadmin%2Flogin%2Fwecom%2Fcallback&state=s1"
	if got := c.WebLoginURL("https://ma.example.com/admin/login/wecom/callback", "s1"); got != want {
		t.Fatalf("WebLoginURL =\n%s\nwant\n%s", got, want)
	}
}

// Against the sandbox: the login page's code names the employee through
// auth/getuserinfo, like an OAuth code.
func TestWebLoginCodeExchange(t *testing.T) {
	sb, c := startSandbox(t)
	must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "lisi", Name: "李四"}))(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(c.WebLoginURL("https://ma.example.com/cb", "st") + "&sandbox_pick=lisi")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("state") != "st" {
		t.Fatalf("sandbox answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	who, err := c.UserIDFromOAuthCode(context.Background(), loc.Query().Get("code"))
	if err != nil || who.UserID != "lisi" {
		t.Fatalf("UserIDFromOAuthCode = %+v, %v", who, err)
	}
}
