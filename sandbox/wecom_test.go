package sandbox

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestGetTokenReuseExpiryAndErrors(t *testing.T) {
	e := start(t)
	tok := e.wecomToken()
	if again := e.wecomToken(); again != tok {
		t.Fatal("gettoken must return the same token until it expires")
	}
	c := e.s.Options().Corp
	tests := []struct {
		name string
		q    url.Values
		want int
	}{
		{"missing corpid", url.Values{"corpsecret": {c.AgentSecret}}, 41002},
		{"bad corpid", url.Values{"corpid": {"wwnope"}, "corpsecret": {c.AgentSecret}}, 40013},
		{"missing secret", url.Values{"corpid": {c.CorpID}}, 41004},
		{"bad secret", url.Values{"corpid": {c.CorpID}, "corpsecret": {"nope"}}, 40001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrcode(t, e.do("GET", e.s.URLs().WeComAPI, "/cgi-bin/gettoken", tt.q, nil), tt.want)
		})
	}
	path := "/cgi-bin/externalcontact/get_follow_user_list"
	wantErrcode(t, e.wecom("GET", path, "", nil, nil), 41001)
	wantErrcode(t, e.wecom("GET", path, "garbage", nil, nil), 40014)
	wantErrcode(t, e.wecom("GET", path, tok, nil, nil), 0)
	e.clock.Advance(7201 * time.Second)
	wantErrcode(t, e.wecom("GET", path, tok, nil, nil), 42001)
	fresh := e.wecomToken()
	if fresh == tok {
		t.Fatal("an expired token must be replaced")
	}
	e.s.RevokeTokens()
	wantErrcode(t, e.wecom("GET", path, fresh, nil, nil), 40014)
}

func TestExternalContactAPIs(t *testing.T) {
	e := start(t)
	ids := e.seedSmall("zhangsan", 3)
	tok := e.wecomToken()
	list := e.wecom("GET", "/cgi-bin/externalcontact/list", tok, url.Values{"userid": {"zhangsan"}}, nil)
	if got := list["external_userid"].([]any); len(got) != 3 || !strings.HasPrefix(got[0].(string), "wm") {
		t.Fatalf("list = %v", list)
	}
	got := e.wecom("GET", "/cgi-bin/externalcontact/get", tok, url.Values{"external_userid": {ids[0]}}, nil)
	wantErrcode(t, got, 0)
	contact := got["external_contact"].(map[string]any)
	follow := got["follow_user"].([]any)[0].(map[string]any)
	if contact["type"].(float64) != 1 || len(contact["unionid"].(string)) != 28 || follow["state"] != "ch1" {
		t.Fatalf("get = %v", got)
	}
	wantErrcode(t, e.wecom("GET", "/cgi-bin/externalcontact/get", tok, url.Values{"external_userid": {"wmnope"}}, nil), 40096)
	if _, err := e.s.CreateEmployee(NewEmployee{UserID: "lisi", Name: "李四"}); err != nil {
		t.Fatal(err)
	}
	wantErrcode(t, e.wecom("GET", "/cgi-bin/externalcontact/list", tok, url.Values{"userid": {"lisi"}}, nil), 84061)
}

func TestBatchGetByUserPagingAndLimits(t *testing.T) {
	e := start(t)
	e.seedSmall("zhangsan", 7)
	tok := e.wecomToken()
	path := "/cgi-bin/externalcontact/batch/get_by_user"
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		out := e.wecom("POST", path, tok, nil, map[string]any{"userid_list": []string{"zhangsan"}, "cursor": cursor, "limit": 3})
		wantErrcode(t, out, 0)
		for _, row := range out["external_contact_list"].([]any) {
			seen[row.(map[string]any)["external_contact"].(map[string]any)["external_userid"].(string)] = true
		}
		cursor = out["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 7 {
		t.Fatalf("saw %d contacts, want 7", len(seen))
	}
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = "zhangsan"
	}
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"bad cursor", map[string]any{"userid_list": []string{"zhangsan"}, "cursor": "bm9wZQ"}, 40058},
		{"cursor of another list", map[string]any{"userid_list": []string{"zhangsan", "x"}, "cursor": "x"}, 60111},
		{"negative limit", map[string]any{"userid_list": []string{"zhangsan"}, "limit": -1}, 40058},
		{"101 userids", map[string]any{"userid_list": tooMany}, 40058},
		{"no userids", map[string]any{}, 41009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.wecom("POST", path, tok, nil, tt.body)
			wantErrcode(t, out, tt.want)
			if _, ok := out["external_contact_list"]; !ok {
				t.Fatal("errors keep the empty external_contact_list")
			}
		})
	}
	clamped := e.wecom("POST", path, tok, nil, map[string]any{"userid_list": []string{"zhangsan"}, "limit": 1000})
	if n := len(clamped["external_contact_list"].([]any)); n != 7 {
		t.Fatalf("limit 1000 is clamped, not refused: got %d rows", n)
	}
}

func TestJSAPITicketPostDoubleSlash(t *testing.T) {
	e := start(t)
	tok := e.wecomToken()
	out := e.do("POST", e.s.URLs().WeComAPI, "//cgi-bin/get_jsapi_ticket", url.Values{"access_token": {tok}, "type": {"jsapi"}}, nil)
	if errcode(out) != 0 || out["expires_in"].(float64) != 7200 || out["ticket"] == "" {
		t.Fatalf("ticket = %v", out)
	}
	if _, ok := out["errcode"]; !ok {
		t.Fatal("ticket answers must carry errcode")
	}
	agent := e.wecom("GET", "/cgi-bin/ticket/get", tok, url.Values{"type": {"agent_config"}}, nil)
	if errcode(agent) != 0 || agent["ticket"] == out["ticket"] {
		t.Fatalf("agent ticket = %v", agent)
	}
}
