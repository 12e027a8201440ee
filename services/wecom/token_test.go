package wecom

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
	tagReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/tag/request"
)

// §12.3: on 42001 the SDK itself refreshes once and retries once, for GET.
func TestTokenRefreshOnceOnGET(t *testing.T) {
	for _, code := range []int{40001, 40014, 42001} {
		f := newFake(t)
		c := fakeClient(t, f)
		ctx := context.Background()
		f.inject("/cgi-bin/department/list", code)
		deps, err := c.ListDepartments(ctx, 0)
		if err != nil || len(deps) != 1 {
			t.Fatalf("errcode %d: ListDepartments = %v, %v", code, deps, err)
		}
		if n := f.count("/cgi-bin/gettoken"); n != 2 {
			t.Errorf("errcode %d: gettoken hits = %d, want 2 (initial + one refresh)", code, n)
		}
		if n := f.count("/cgi-bin/department/list"); n != 2 {
			t.Errorf("errcode %d: department/list hits = %d, want 2 (call + one retry)", code, n)
		}
	}
}

// Never a loop: a second token error after the retry is returned.
func TestTokenRefreshNeverLoops(t *testing.T) {
	f := newFake(t)
	c := fakeClient(t, f)
	f.inject("/cgi-bin/department/list", 42001, 42001, 42001)
	_, err := c.ListDepartments(context.Background(), 0)
	if !IsAPIError(err, 42001) {
		t.Fatalf("err = %v, want APIError 42001", err)
	}
	if n := f.count("/cgi-bin/department/list"); n != 2 {
		t.Fatalf("department/list hits = %d, want 2", n)
	}
	if n := f.count("/cgi-bin/gettoken"); n != 2 {
		t.Fatalf("gettoken hits = %d, want 2", n)
	}
}

// The retried POST carries the same body through the adapter.
func TestTokenRefreshRetriesPOSTWithBody(t *testing.T) {
	f := newFake(t)
	c := fakeClient(t, f)
	f.inject("/cgi-bin/externalcontact/mark_tag", 42001)
	if err := c.MarkTag(context.Background(), "zhangsan", "wmX", []string{"et1"}, nil); err != nil {
		t.Fatalf("MarkTag: %v", err)
	}
	bodies := f.bodies["/cgi-bin/externalcontact/mark_tag"]
	if len(bodies) != 2 || bodies[0] != bodies[1] || !strings.Contains(bodies[1], `"userid":"zhangsan"`) {
		t.Fatalf("bodies = %q, want the same body twice", bodies)
	}
}

// §12.3: the SDK alone (no adapter transport) retries a POST with its body
// intact; CheckTokenNeedRefresh re-reads request.Body after the first round
// trip, which looked like a bug in the v3.2.58 source.
func TestSDKRetriesPOSTBodyIntact(t *testing.T) {
	f := newFake(t)
	app, err := work.NewWork(&work.UserConfig{CorpID: "wwfake", AgentID: 1, Secret: "s",
		OAuth: work.OAuth{Callback: "https://localhost/"}, Cache: NewMemoryCache(),
		Http: work.Http{BaseURI: f.srv.URL, Transport: http.DefaultTransport}, Log: work.Log{Driver: newLogDriver(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	f.inject("/cgi-bin/externalcontact/mark_tag", 42001)
	_, err = app.ExternalContactTag.MarkTag(context.Background(), &tagReq.RequestTagMarkTag{UserID: "u", ExternalUserID: "e", AddTag: []string{"t"}})
	bodies := f.bodies["/cgi-bin/externalcontact/mark_tag"]
	if err != nil || len(bodies) != 2 || bodies[0] != bodies[1] {
		t.Fatalf("SDK retry: err=%v bodies=%q", err, bodies)
	}
}

// §12.4: 20 concurrent calls on a cold cache fetch one token (the SDK alone
// fetched 15 on v3.2.58).
func TestColdCacheStampedeFetchesOneToken(t *testing.T) {
	f := newFake(t)
	c := fakeClient(t, f, func(c *Config) { c.PoolSize = 8 })
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.ListDepartments(context.Background(), 0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("/cgi-bin/gettoken"); n != 1 {
		t.Fatalf("gettoken hits = %d, want 1", n)
	}
}

func TestWrongSecretIsAPIErrorWithAdvice(t *testing.T) {
	f := newFake(t)
	c := fakeClient(t, f, func(c *Config) { c.AgentSecret = "wrong" })
	err := c.CheckConnection(context.Background())
	if !IsAPIError(err, 40001) {
		t.Fatalf("CheckConnection = %v, want APIError 40001", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("error leaks the secret: %v", err)
	}
	_, err = c.ListDepartments(context.Background(), 0)
	if !IsAPIError(err, 40001) {
		t.Fatalf("ListDepartments = %v, want APIError 40001", err)
	}
	if n := f.count("/cgi-bin/department/list"); n != 0 {
		t.Fatalf("business call made without a token: %d", n)
	}
}

func TestTicketsCached(t *testing.T) {
	f := newFake(t)
	c := fakeClient(t, f)
	ctx := context.Background()
	for range 3 {
		s, err := c.ConfigSignature(ctx, "https://app.example.com/sidebar?x=1#frag")
		if err != nil {
			t.Fatal(err)
		}
		want := JSSDKSignature("TICKET/cgi-bin/get_jsapi_ticket", s.NonceStr, itoa(s.Timestamp), "https://app.example.com/sidebar?x=1")
		if s.Signature != want {
			t.Fatalf("signature %s, want %s", s.Signature, want)
		}
		a, err := c.AgentConfigSignature(ctx, "https://app.example.com/sidebar")
		if err != nil {
			t.Fatal(err)
		}
		if a.Signature != JSSDKSignature("TICKET/cgi-bin/ticket/get", a.NonceStr, itoa(a.Timestamp), "https://app.example.com/sidebar") {
			t.Fatal("agent signature mismatch")
		}
	}
	if n := f.count("/cgi-bin/get_jsapi_ticket"); n != 1 {
		t.Errorf("corp ticket fetched %d times, want 1", n)
	}
	if n := f.count("/cgi-bin/ticket/get"); n != 1 {
		t.Errorf("agent ticket fetched %d times, want 1", n)
	}
}
