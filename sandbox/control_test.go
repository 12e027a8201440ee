package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

func TestControlAPIFlow(t *testing.T) {
	e := start(t)
	ctl := e.s.URLs().Control
	user := e.do("POST", ctl, "/api/wechat-users", nil, map[string]any{"nickname": "小红", "phone": "13900000000"})
	if len(user["unionid"].(string)) != 28 || user["oa_openid"].(string)[0] != 'o' {
		t.Fatalf("wechat user = %v", user)
	}
	e.do("POST", ctl, "/api/departments", nil, map[string]any{"name": "销售部"})
	emp := e.do("POST", ctl, "/api/employees", nil, map[string]any{"userid": "lisi", "name": "李四", "department": []int{2}})
	if emp["userid"] != "lisi" {
		t.Fatalf("employee = %v", emp)
	}
	added := e.do("POST", ctl, "/api/customers/add", nil, map[string]any{"wechat_user": user["id"], "employee_userid": "lisi", "state": "poster"})
	if added["welcome_code"] == "" || added["external_userid"] != user["external_userid"] {
		t.Fatalf("add = %v", added)
	}
	dup := e.do("POST", ctl, "/api/customers/add", nil, map[string]any{"wechat_user": user["id"], "employee_userid": "lisi"})
	if dup["_status"] != float64(http.StatusConflict) {
		t.Fatalf("duplicate add = %v", dup)
	}
	e.do("POST", ctl, "/api/oa/subscribe", nil, map[string]any{"wechat_user": user["unionid"]})
	e.do("POST", ctl, "/api/customers/delete", nil, map[string]any{"external_userid": user["external_userid"], "employee_userid": "lisi", "by": "customer"})
	var cbs []CallbackRecord
	getJSON(t, ctl+"/api/callbacks", &cbs)
	events := []string{}
	for _, c := range cbs {
		events = append(events, c.Event)
	}
	want := []string{"change_contact/create_party", "change_contact/create_user", "change_external_contact/add_external_contact", "subscribe", "change_external_contact/del_follow_user"}
	if len(events) != len(want) {
		t.Fatalf("events = %v, want %v", events, want)
	}
	for i := range want {
		if events[i] != want[i] || cbs[i].Status != CallbackNoURL {
			t.Fatalf("events = %v, want %v", events, want)
		}
	}
	fault := e.do("POST", ctl, "/api/faults", nil, map[string]any{"path": "/cgi-bin/gettoken", "errcode": 45009, "times": 1})
	if fault["id"] != float64(1) {
		t.Fatalf("fault = %v", fault)
	}
	c := e.s.Options().Corp
	wantErrcode(t, e.do("GET", e.s.URLs().WeComAPI, "/cgi-bin/gettoken", url.Values{"corpid": {c.CorpID}, "corpsecret": {c.AgentSecret}}, nil), 45009)
	resp, err := http.Get(ctl + "/")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("console: %v %v", resp, err)
	}
	resp.Body.Close()
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestShimSignaturesAndChatMessage(t *testing.T) {
	e := start(t)
	ids := e.seedSmall("zhangsan", 1)
	tok := e.wecomToken()
	corpTicket := e.wecom("GET", "/cgi-bin/get_jsapi_ticket", tok, nil, nil)["ticket"].(string)
	agentTicket := e.wecom("GET", "/cgi-bin/ticket/get", tok, url.Values{"type": {"agent_config"}}, nil)["ticket"].(string)
	shim := httptest.NewServer(http.StripPrefix("/sandbox", e.s.ShimHandler()))
	defer shim.Close()
	page := "https://app.example.com/sidebar?x=1"
	post := func(path string, body any) map[string]any {
		raw, _ := json.Marshal(body)
		resp, err := http.Post(shim.URL+"/sandbox/"+path, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	sig := func(ticket string) string { return wxcrypto.JSSDKSignature(ticket, "n0nce", "1700000000", page) }
	check := func(kind, signature string) int {
		out := post("verify", map[string]string{"kind": kind, "url": page, "timestamp": "1700000000", "nonceStr": "n0nce", "signature": signature})
		return int(out["errcode"].(float64))
	}
	if check("config", sig(corpTicket)) != 0 || check("agent", sig(agentTicket)) != 0 {
		t.Fatal("valid signatures rejected")
	}
	if check("config", sig("forged")) != 40093 || check("agent", sig(corpTicket)) != 42012 {
		t.Fatal("bad signatures accepted")
	}
	if err := e.s.SetSidebarContext(SidebarContext{Entry: "single_chat_tools", UserID: "zhangsan", ExternalUserID: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if out := post("send-chat-message", map[string]any{"msgtype": "text", "text": map[string]string{"content": "你好"}}); out["errcode"] != float64(0) {
		t.Fatalf("send = %v", out)
	}
	msgs := e.s.Outbox(OutboxChatMessage)
	if len(msgs) != 1 || msgs[0].Keys["external_userid"] != ids[0] {
		t.Fatalf("outbox = %+v", msgs)
	}
	js, err := http.Get(shim.URL + "/sandbox/ww-shim.js")
	if err != nil || js.StatusCode != 200 {
		t.Fatalf("shim js: %v %v", js, err)
	}
	js.Body.Close()
}

func TestSeedScale(t *testing.T) {
	e := start(t)
	employees, per := 20, 5000
	if testing.Short() {
		per = 500
	}
	// How fast seeding goes is BenchmarkBatchGetByUser's seed_s (make bench),
	// not something a unit test on a busy machine should judge.
	res, err := e.s.Seed(SeedInput{Departments: 3, Employees: employees, WeChatUsers: employees * per,
		ContactsPerEmployee: per, Fans: employees * per / 2, MPUsers: employees * per / 3, Overlap: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Contacts != employees*per || res.Employees != employees {
		t.Fatalf("seed = %+v", res)
	}
	tok := e.wecomToken()
	out := e.wecom("POST", "/cgi-bin/externalcontact/batch/get_by_user", tok, nil, map[string]any{"userid_list": []string{"emp001"}, "limit": 100})
	if n := len(out["external_contact_list"].([]any)); n != 100 || out["next_cursor"] == "" {
		t.Fatalf("batch after seed: %d rows, cursor %v", n, out["next_cursor"])
	}
}

// BenchmarkBatchGetByUser seeds 100k relations (20 employees × 5000) and
// reports how long that took (seed_s), then pages through them over HTTP,
// 100 per call, and reports contacts/s.
func BenchmarkBatchGetByUser(b *testing.B) {
	e := start(b)
	began := time.Now()
	if _, err := e.s.Seed(SeedInput{Employees: 20, WeChatUsers: 100000, ContactsPerEmployee: 5000}); err != nil {
		b.Fatal(err)
	}
	seeded := time.Since(began)
	tok := e.wecomToken()
	users := make([]string, 20)
	for i := range users {
		users[i] = "emp" + pad3(i+1)
	}
	rows := 0
	cursor := ""
	b.ResetTimer()
	for b.Loop() {
		out := e.wecom("POST", "/cgi-bin/externalcontact/batch/get_by_user", tok, nil,
			map[string]any{"userid_list": users, "cursor": cursor, "limit": 100})
		rows += len(out["external_contact_list"].([]any))
		cursor, _ = out["next_cursor"].(string)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(seeded.Seconds(), "seed_s")
}

func pad3(n int) string {
	s := pad6(n)
	return s[3:]
}
