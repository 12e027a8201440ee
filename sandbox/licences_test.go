package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// In third-party licence mode, a member without an interop account is
// refused or left out by the 客户联系 APIs as WeCom does (701008), gets no
// add event, and one without a basic account cannot sign in through OAuth.
func TestLicenceMode(t *testing.T) {
	e := start(t)
	s := e.s
	for _, id := range []string{"zhangsan", "lisi"} {
		if _, err := s.CreateEmployee(NewEmployee{UserID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := s.CreateWeChatUser(NewWeChatUser{Nickname: "王五"})
	shared, _ := s.AddCustomer(AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "zhangsan"})
	if _, err := s.AddCustomer(AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "lisi"}); err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroupChat(NewGroupChat{Owner: "lisi", Name: "群", Members: []string{shared.ExternalUserID}})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	if err := s.SetLicences(LicenceInput{Mode: LicenceThirdParty, UserID: "lisi", Interop: &no}); err != nil {
		t.Fatal(err)
	}
	tok := e.wecomToken()

	wantErrcode(t, e.wecom("GET", "/cgi-bin/externalcontact/list", tok, url.Values{"userid": {"lisi"}}, nil), 701008)
	got := e.wecom("GET", "/cgi-bin/externalcontact/get", tok, url.Values{"external_userid": {shared.ExternalUserID}}, nil)
	if fu, _ := got["follow_user"].([]any); errcode(got) != 0 || len(fu) != 1 || fu[0].(map[string]any)["userid"] != "zhangsan" {
		t.Fatalf("get leaves out the unlicensed follower: %v", got)
	}
	wantErrcode(t, e.wecom("POST", "/cgi-bin/externalcontact/batch/get_by_user", tok, nil, map[string]any{"userid_list": []string{"lisi"}}), 701008)
	if b := e.wecom("POST", "/cgi-bin/externalcontact/batch/get_by_user", tok, nil,
		map[string]any{"userid_list": []string{"lisi", "zhangsan"}}); errcode(b) != 0 || len(b["external_contact_list"].([]any)) != 1 {
		t.Fatalf("batch skips the unlicensed member: %v", b)
	}
	wantErrcode(t, e.wecom("POST", "/cgi-bin/externalcontact/groupchat/get", tok, nil, map[string]any{"chat_id": g.ChatID}), 701008)

	// no add event for a member without an interop account
	before := len(s.Callbacks())
	q, _ := s.CreateWeChatUser(NewWeChatUser{Nickname: "赵六"})
	if _, err := s.AddCustomer(AddCustomerInput{WeChatUser: q.ID, EmployeeUserID: "lisi"}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Callbacks()); n != before {
		t.Fatalf("%d callbacks sent for an unlicensed member's new customer", n-before)
	}

	// message/send: accepted, but not delivered to a member without a basic account
	if err := s.SetLicences(LicenceInput{UserID: "lisi", Basic: &no}); err != nil {
		t.Fatal(err)
	}
	sent := e.wecom("POST", "/cgi-bin/message/send", tok, nil, map[string]any{"touser": "zhangsan|lisi",
		"msgtype": "text", "agentid": s.Options().Corp.AgentID, "text": map[string]string{"content": "hi"}})
	if errcode(sent) != 0 || sent["unlicenseduser"] != "lisi" {
		t.Fatalf("message/send: %v", sent)
	}
	// OAuth: the member without a basic account is stopped
	c := s.Options().Corp
	auth := url.Values{"appid": {c.CorpID}, "redirect_uri": {"https://app.example.com/cb"}, "response_type": {"code"},
		"scope": {"snsapi_base"}, "agentid": {"1000002"}, "state": {"s"}, "sandbox_pick": {"lisi"}}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.URLs().OAuth + "/connect/oauth2/authorize?" + auth.Encode() + "#wechat_redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("OAuth of a member without a basic account: HTTP %d", resp.StatusCode)
	}
	auth.Set("sandbox_pick", "zhangsan")
	if resp, err = client.Get(s.URLs().OAuth + "/connect/oauth2/authorize?" + auth.Encode()); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("OAuth of a licensed member: HTTP %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
