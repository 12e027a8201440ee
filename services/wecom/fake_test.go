package wecom

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeWeChat is a deliberately tiny stand-in used to pin down PowerWeChat
// v3.4.41 behaviour (request bodies on retry, token counting, races) where
// an exact, local observation matters more than protocol fidelity. The
// protocol tests run against the project sandbox.
type fakeWeChat struct {
	srv *httptest.Server

	mu     sync.Mutex
	hits   map[string]int
	faults map[string][]int // path -> errcodes to answer next, in order
	bodies map[string][]string
	token  int
}

func newFake(t *testing.T) *fakeWeChat {
	f := &fakeWeChat{hits: map[string]int{}, faults: map[string][]int{}, bodies: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeChat) inject(path string, codes ...int) {
	f.mu.Lock()
	f.faults[path] = append(f.faults[path], codes...)
	f.mu.Unlock()
}

func (f *fakeWeChat) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeWeChat) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := "/" + strings.TrimLeft(r.URL.Path, "/")
	f.mu.Lock()
	f.hits[p]++
	f.bodies[p] = append(f.bodies[p], string(body))
	var fault int
	if q := f.faults[p]; len(q) > 0 {
		fault, f.faults[p] = q[0], q[1:]
	}
	if p == "/cgi-bin/gettoken" || p == "/cgi-bin/token" {
		f.token++
	}
	tok := f.token
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	if fault != 0 {
		reply(map[string]any{"errcode": fault, "errmsg": "injected"})
		return
	}
	switch p {
	case "/cgi-bin/gettoken", "/cgi-bin/token":
		if r.URL.Query().Get("corpsecret") == "wrong" {
			reply(map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "access_token": "TOKEN" + string(rune('A'+tok%26)), "expires_in": 7200})
	case "/cgi-bin/department/list":
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "department": []any{map[string]any{"id": 1, "name": "root", "parentid": 0, "order": 1}}})
	case "/cgi-bin/externalcontact/mark_tag":
		var m map[string]any
		if json.Unmarshal(body, &m) != nil || m["userid"] == nil {
			reply(map[string]any{"errcode": 47001, "errmsg": "data format error"})
			return
		}
		reply(map[string]any{"errcode": 0, "errmsg": "ok"})
	case "/cgi-bin/get_jsapi_ticket", "/cgi-bin/ticket/get":
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "ticket": "TICKET" + p, "expires_in": 7200})
	case "/cgi-bin/externalcontact/unionid_to_external_userid", "/cgi-bin/idconvert/unionid_to_external_userid":
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "external_userid": "wmEXT"})
	case "/wxa/business/getuserphonenumber":
		reply(map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{"phoneNumber": "13800000000", "purePhoneNumber": "13800000000", "countryCode": 86}})
	default:
		reply(map[string]any{"errcode": 0, "errmsg": "ok"})
	}
}

func fakeClient(t *testing.T, f *fakeWeChat, opt ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{CorpID: "wwfake", AgentID: 1000002, AgentSecret: "secret", WeComBaseURL: f.srv.URL,
		OABaseURL: f.srv.URL, MP: MPConfig{AppID: "wxmp", Secret: "mpsecret"}}
	for _, o := range opt {
		o(&cfg)
	}
	c, err := New(cfg, NewMemoryCache(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
