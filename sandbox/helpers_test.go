package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type testEnv struct {
	t     testing.TB
	s     *Sandbox
	clock *fakeClock
}

// start runs a sandbox with a fixed seed and a fake clock; mutate tweaks options.
func start(t testing.TB, mutate ...func(*Options)) *testEnv {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	opts := Options{Seed: 42, Now: clock.Now, CallbackRetryDelay: time.Millisecond, CallbackTimeout: 2 * time.Second}
	for _, m := range mutate {
		m(&opts)
	}
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &testEnv{t: t, s: s, clock: clock}
}

// do sends a request to base+path and decodes the JSON answer.
func (e *testEnv) do(method, base, path string, q url.Values, body any) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(method, u, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		out["_status"] = float64(resp.StatusCode)
	}
	return out
}

// wecomToken fetches a token with the agent secret (with PowerWeChat's extra params).
func (e *testEnv) wecomToken() string {
	e.t.Helper()
	c := e.s.Options().Corp
	out := e.do("GET", e.s.URLs().WeComAPI, "/cgi-bin/gettoken", url.Values{"corpid": {c.CorpID},
		"corpsecret": {c.AgentSecret}, "appid": {c.CorpID}, "secret": {c.AgentSecret}, "neededText": {""}}, nil)
	tok, _ := out["access_token"].(string)
	if tok == "" {
		e.t.Fatalf("gettoken: %v", out)
	}
	return tok
}

func (e *testEnv) wecom(method, path, tok string, q url.Values, body any) map[string]any {
	e.t.Helper()
	if q == nil {
		q = url.Values{}
	}
	if tok != "" {
		q.Set("access_token", tok)
	}
	return e.do(method, e.s.URLs().WeComAPI, path, q, body)
}

func errcode(m map[string]any) int {
	v, _ := m["errcode"].(float64)
	return int(v)
}

func wantErrcode(t testing.TB, m map[string]any, want int) {
	t.Helper()
	if got := errcode(m); got != want {
		t.Fatalf("errcode = %d, want %d (%v)", got, want, m)
	}
}

// seedSmall creates one employee with n customers and returns their external ids.
func (e *testEnv) seedSmall(userID string, n int) []string {
	e.t.Helper()
	if _, err := e.s.CreateEmployee(NewEmployee{UserID: userID, Name: "员工" + userID}); err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, 0, n)
	for i := range n {
		u, err := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "客户" + string(rune('A'+i%26))})
		if err != nil {
			e.t.Fatal(err)
		}
		res, err := e.s.AddCustomer(AddCustomerInput{WeChatUser: u.ID, EmployeeUserID: userID, State: "ch1"})
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, res.ExternalUserID)
	}
	return ids
}
