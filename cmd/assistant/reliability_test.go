package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// loadResult is the answer to one request of the load.
type loadResult struct {
	kind       string // "form" or "callback"
	key        string // the submission's token or the callback's inbox dedup key
	status     int
	retryAfter string
	err        error
	ok         bool // acknowledged: 303 to the done page, or 200 "success"
	at         time.Time
}

// loadGen sends form submissions and callbacks from a few clients, each
// with its own token, phone, client IP or openid, until stopped.
type loadGen struct {
	t       *testing.T
	sb      *sharedSandbox
	base    string
	slug    string
	client  *http.Client
	seq     atomic.Int64
	stopped atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []loadResult
}

func (g *loadGen) start(clients int, pause time.Duration) {
	for range clients {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for !g.stopped.Load() {
				i := g.seq.Add(1)
				var r loadResult
				if i%2 == 0 {
					r = g.submit(i)
				} else {
					r = g.callback(i)
				}
				r.at = time.Now()
				g.mu.Lock()
				g.results = append(g.results, r)
				g.mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
}

func (g *loadGen) stop() []loadResult {
	g.stopped.Store(true)
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]loadResult(nil), g.results...)
}

func (g *loadGen) submit(i int64) loadResult {
	r := loadResult{kind: "form", key: fmt.Sprintf("load-token-%06d", i)}
	v := url.Values{"t": {r.key}, "f.name": {fmt.Sprintf("访客%d", i)}, "phone": {fmt.Sprintf("139%08d", i)}, "consent": {"1"}}
	req, _ := http.NewRequest(http.MethodPost, g.base+"/f/"+g.slug, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	resp, err := g.client.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	readAll(resp)
	r.status, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	r.ok = r.status == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "/done?s=")
	return r
}

func (g *loadGen) callback(i int64) loadResult {
	openID, at := fmt.Sprintf("o-load-%06d", i), 1_700_000_000+i
	r := loadResult{kind: "callback", key: fmt.Sprintf("ev:%s:%d:unsubscribe:", openID, at)}
	st, body, err := g.sb.postCallback(g.client, g.base, "/callbacks/oa", g.sb.oaUnsubscribe(openID, at))
	r.status, r.err = st, err
	r.ok = st == http.StatusOK && body == "success"
	return r
}

// count returns how many results after since match.
func (g *loadGen) count(since time.Time, match func(loadResult) bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.results {
		if r.at.After(since) && match(r) {
			n++
		}
	}
	return n
}

// TestLoadWhileTheDatabaseRestarts: form submissions and callbacks keep
// coming while PostgreSQL is stopped (fast shutdown) and later killed
// (crash, recovery at start). While it is away the app answers 503 with
// Retry-After, never 500 and never a success it did not store; it recovers
// by itself; every acknowledged submission and callback is in the database
// afterwards, and every stored callback is processed.
func TestLoadWhileTheDatabaseRestarts(t *testing.T) {
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 1, Employees: 1})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	form, err := services.NewFormService(db, services.NewAuditService(db), "http://127.0.0.1").CreateForm(context.Background(),
		services.FormInput{Title: "压力测试报名", ConsentText: "我同意", PrivacyURL: "https://ma.example.com/privacy", Published: true,
			Fields: []services.Field{{Kind: services.FieldName, Label: "姓名", Required: true}}}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	// The test cluster runs with synchronous_commit off (speed); the app's
	// sessions turn it back on, as in production, or the crash below could
	// lose commits PostgreSQL had already confirmed. A worker whose item was
	// cut by the outage cannot release it: its lease (3 s here, 2 min by
	// default) gives the item back.
	s := startServer(t, deploymentEnv(dsn+" synchronous_commit=on",
		sb.internal("inbox_poll=50ms", "inbox_backoff=200ms", "inbox_lease=3s")))
	cl := pgtest.Cluster()
	down := false
	t.Cleanup(func() {
		if down {
			_ = cl.Start(context.Background())
		}
	})

	g := &loadGen{t: t, sb: sb, base: s.URL, slug: form.Slug, client: noRedirects(15 * time.Second)}
	g.start(4, 10*time.Millisecond)
	defer g.stop()
	acked := func(kind string) func(loadResult) bool {
		return func(r loadResult) bool { return r.kind == kind && r.ok }
	}
	refused := func(kind string) func(loadResult) bool {
		return func(r loadResult) bool { return r.kind == kind && r.status == http.StatusServiceUnavailable }
	}
	waitFor := func(what string, since time.Time, within time.Duration, match func(loadResult) bool, n int) {
		t.Helper()
		eventually(t, what, within, func() bool { return g.count(since, match) >= n })
	}
	began := time.Now()
	waitFor("submissions stored", began, 15*time.Second, acked("form"), 20)
	waitFor("callbacks stored", began, 15*time.Second, acked("callback"), 20)

	for _, outage := range []struct {
		name string
		stop func(context.Context) error
	}{{"stopped", cl.Stop}, {"killed", func(context.Context) error { return cl.Kill() }}} {
		t.Logf("PostgreSQL %s", outage.name)
		down = true
		if err := outage.stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		stoppedAt := time.Now()
		waitFor("submissions refused with 503", stoppedAt, 20*time.Second, refused("form"), 10)
		waitFor("callbacks refused with 503", stoppedAt, 20*time.Second, refused("callback"), 10)
		waitStatus(t, s.URL+"/readyz", http.StatusServiceUnavailable, 10*time.Second)
		if err := cl.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		down = false
		back := time.Now()
		waitFor("submissions stored again", back, 30*time.Second, acked("form"), 20)
		waitFor("callbacks stored again", back, 30*time.Second, acked("callback"), 20)
		waitStatus(t, s.URL+"/readyz", http.StatusOK, 10*time.Second)
	}
	results := g.stop()

	tally := map[string]int{}
	var tokens, dedup []string
	for _, r := range results {
		tally[fmt.Sprintf("%s %d", r.kind, r.status)]++
		switch {
		case r.err != nil:
			t.Errorf("%s %s: %v", r.kind, r.key, r.err)
		case r.status == http.StatusServiceUnavailable:
			if r.kind == "form" && r.retryAfter == "" {
				t.Errorf("503 without Retry-After for %s", r.key)
			}
		case !r.ok:
			t.Errorf("%s %s: status %d (want success or 503)", r.kind, r.key, r.status)
		case r.kind == "form":
			tokens = append(tokens, r.key)
		default:
			dedup = append(dedup, r.key)
		}
	}
	t.Logf("%d requests: %v", len(results), tally)
	if n := countRows(t, db, `SELECT count(*) FROM form_submissions WHERE form_id = $1 AND dedupe_key = ANY($2)`,
		form.ID, pq.Array(tokens)); n != len(tokens) {
		t.Errorf("acknowledged submissions: %d, stored: %d", len(tokens), n)
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE dedup_key = ANY($1)`, pq.Array(dedup)); n != len(dedup) {
		t.Errorf("acknowledged callbacks: %d, stored: %d", len(dedup), n)
	}
	// A request cut by the outage may be stored though its answer was a 503
	// (WeChat and the visitor retry it; dedup keys make that harmless), so
	// the tables hold at least the acknowledged rows.
	subs, inbox := countRows(t, db, `SELECT count(*) FROM form_submissions`), countRows(t, db, `SELECT count(*) FROM wecom_inbox`)
	t.Logf("acknowledged %d submissions, %d callbacks; stored %d, %d", len(tokens), len(dedup), subs, inbox)
	if subs < len(tokens) || inbox < len(dedup) {
		t.Errorf("fewer rows than acknowledgements")
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'form_submitted'`); n != subs {
		t.Errorf("form_submitted moments = %d for %d submissions", n, subs)
	}
	eventually(t, "the inbox processed after the outages", 30*time.Second, func() bool { return inboxSettled(t, db) })
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'oa_unsubscribed'`); n != inbox {
		t.Errorf("oa_unsubscribed moments = %d for %d stored callbacks", n, inbox)
	}
}

// callbackDelivery is one callback to send: where and what.
type callbackDelivery struct {
	path  string
	plain []byte
}

// TestReplayStormEveryCallbackThreeTimes: WeChat retries, and a proxy may
// duplicate; every callback delivered three times at once is stored once
// (one inbox row) and recorded once (one moment), and every delivery is
// acknowledged.
func TestReplayStormEveryCallbackThreeTimes(t *testing.T) {
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 1, Employees: 3, WeChatUsers: 90, ContactsPerEmployee: 15,
		Fans: 40, Overlap: 0.5})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	s := startServer(t, deploymentEnv(dsn, sb.internal("inbox_poll=50ms", "inbox_backoff=100ms")))

	rels, fans := sb.relations(), sb.fans()
	if len(rels) < 30 || len(fans) < 20 {
		t.Fatalf("seed too small: %d relations, %d fans", len(rels), len(fans))
	}
	var events []callbackDelivery
	now := time.Now().Unix()
	for _, f := range rels {
		events = append(events, callbackDelivery{"/callbacks/wecom", sb.wecomAdded(f, now)})
	}
	for i, p := range fans {
		events = append(events, callbackDelivery{"/callbacks/oa", sb.oaClick(p.OAOpenID, now+int64(i), "storm")})
	}

	client := noRedirects(20 * time.Second)
	sem := make(chan struct{}, 24)
	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	for _, ev := range events {
		for range 3 { // the three deliveries race each other
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				st, body, err := sb.postCallback(client, s.URL, ev.path, ev.plain)
				mu.Lock()
				defer mu.Unlock()
				answers[fmt.Sprintf("%d %s %v", st, body, err)]++
			}()
		}
	}
	wg.Wait()
	if len(answers) != 1 || answers["200 success <nil>"] != 3*len(events) {
		t.Fatalf("answers to %d deliveries: %v", 3*len(events), answers)
	}
	eventually(t, "the inbox processed", 60*time.Second, func() bool { return inboxSettled(t, db) })
	if n := countRows(t, db, `SELECT count(*) FROM wecom_inbox`); n != len(events) {
		t.Fatalf("inbox rows = %d for %d distinct callbacks", n, len(events))
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'wecom_added'`); n != len(rels) {
		t.Errorf("wecom_added moments = %d, want %d (one per relation)", n, len(rels))
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'oa_menu_clicked'`); n != len(fans) {
		t.Errorf("oa_menu_clicked moments = %d, want %d (one per click)", n, len(fans))
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_follows`); n != len(rels) {
		t.Errorf("mirrored relations = %d, want %d", n, len(rels))
	}
	// No identity was created twice either.
	if n := countRows(t, db, `SELECT count(*) FROM (SELECT kind, scope, key FROM identities
		GROUP BY kind, scope, key HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d identities stored twice", n)
	}
}

// wechatFaults makes each path fail 20 % of the time, split evenly between
// busy (-1), rate limit (45009) and token expired (42001): the sandbox tries
// the faults in order, so rates 1/15, 1/14 and 1/13 add up to 3/15.
func wechatFaults(t testing.TB, sb *sharedSandbox, paths ...string) {
	t.Helper()
	for _, p := range paths {
		for i, code := range []int{-1, 45009, 42001} {
			if _, err := sb.AddFault(sandbox.Fault{Path: p, ErrCode: code, Times: -1, Rate: 1 / float64(15-i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// faultHits sums how often each errcode was injected.
func faultHits(sb *sharedSandbox) map[int]int {
	out := map[int]int{}
	for _, f := range sb.Faults() {
		out[f.ErrCode] += f.Hits
	}
	return out
}

// TestSyncAndCallbacksThroughWeChatFaults: with WeCom and the Official
// Account answering busy, rate-limited and token-expired 20 % of the time,
// the contact and fan syncs still complete (retrying with backoff), and
// every callback is still processed with everything present.
func TestSyncAndCallbacksThroughWeChatFaults(t *testing.T) {
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 2, Employees: 6, WeChatUsers: 400, ContactsPerEmployee: 50,
		Fans: 150, Overlap: 0.5})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	env := deploymentEnv(dsn, sb.internal("inbox_poll=50ms", "inbox_backoff=100ms"))
	s := startServer(t, env)
	wechatFaults(t, sb, "/cgi-bin/externalcontact/get_follow_user_list", "/cgi-bin/externalcontact/batch/get_by_user",
		"/cgi-bin/externalcontact/get", "/cgi-bin/user/get", "/cgi-bin/user/info", "/cgi-bin/user/info/batchget")
	rels, fans := sb.relations(), sb.fans()

	// The syncs, through the command an operator runs.
	for _, kind := range []string{"contacts", "fans"} {
		var out bytes.Buffer
		u := sb.URLs()
		cmd := []string{"sync", kind, "--wecom-base-url", u.WeComAPI, "--oa-base-url", u.OfficialAPI}
		if err := run(t.Context(), cmd, &out, envOf(env)); err != nil {
			t.Fatalf("sync %s: %v\n%s", kind, err, out.String())
		}
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_follows WHERE deleted_at IS NULL`); n != len(rels) {
		t.Errorf("relations after the sync = %d, want %d", n, len(rels))
	}
	if n := countRows(t, db, `SELECT count(*) FROM oa_followers WHERE subscribed`); n != len(fans) {
		t.Errorf("fans after the sync = %d, want %d", n, len(fans))
	}
	if n := countRows(t, db, `SELECT count(*) FROM sync_jobs WHERE state <> 'done' OR error <> ''`); n != 0 {
		t.Errorf("%d sync jobs not cleanly done", n)
	}

	// The callbacks: an add for every relation, a menu click for every fan.
	client := noRedirects(20 * time.Second)
	now := time.Now().Unix()
	for i, f := range rels {
		if st, body, err := sb.postCallback(client, s.URL, "/callbacks/wecom", sb.wecomAdded(f, now)); st != 200 {
			t.Fatalf("callback %d: %d %s %v", i, st, body, err)
		}
	}
	for i, p := range fans {
		if st, body, err := sb.postCallback(client, s.URL, "/callbacks/oa", sb.oaClick(p.OAOpenID, now+int64(i), "faulty")); st != 200 {
			t.Fatalf("OA callback %d: %d %s %v", i, st, body, err)
		}
	}
	eventually(t, "every callback processed despite the faults", 90*time.Second, func() bool { return inboxSettled(t, db) })
	if bad := inboxProblems(db); len(bad) > 0 {
		t.Fatalf("inbox: %q", bad)
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'wecom_added'`); n != len(rels) {
		t.Errorf("wecom_added moments = %d, want %d", n, len(rels))
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'oa_menu_clicked'`); n != len(fans) {
		t.Errorf("oa_menu_clicked moments = %d, want %d", n, len(fans))
	}
	retried := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE attempts > 1`)
	hits := faultHits(sb)
	t.Logf("faults injected %v; %d callbacks needed more than one attempt", hits, retried)
	if hits[-1] == 0 || hits[45009] == 0 || hits[42001] == 0 || retried == 0 {
		t.Fatalf("the faults did not bite: %v, %d retried callbacks", hits, retried)
	}
}

// readAll drains and closes a response body.
func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// rawConn opens a TCP connection to the server of base.
func rawConn(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// awaitEnd reads from c until the server answers and closes, or closes, or
// limit passes; it returns what was read and when the connection ended
// (zero when it did not).
func awaitEnd(c net.Conn, limit time.Duration) (string, time.Time) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got.String(), time.Time{}
			}
			return got.String(), time.Now()
		}
	}
}

// quickGet checks that the server still answers a plain request at once.
func quickGet(t *testing.T, client *http.Client, u string, within time.Duration) {
	t.Helper()
	began := time.Now()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s while slow clients hang on: %v", u, err)
	}
	readAll(resp)
	if took := time.Since(began); resp.StatusCode != http.StatusOK || took > within {
		t.Fatalf("GET %s while slow clients hang on: %d in %s", u, resp.StatusCode, took)
	}
}

// TestSlowClientsAndOversizedBodies: slow clients and huge bodies do not
// exhaust the server. Headers trickled byte by byte (slowloris) are cut off
// by the read-header timeout; a body announced or streamed beyond the limit
// is refused with 413 before it is read; many uploads trickling their body
// are cut off by the read timeout; and all the while other requests,
// including a real submission, are answered at once. The timeouts are
// shortened through ASSISTANT_INTERNAL (defaults: 5 s and 20 s).
func TestSlowClientsAndOversizedBodies(t *testing.T) {
	const headerTimeout, readTimeout = 400 * time.Millisecond, 1500 * time.Millisecond
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 1, Employees: 1})
	sb.saveSettings(t, db)
	form, err := services.NewFormService(db, services.NewAuditService(db), "http://127.0.0.1").CreateForm(context.Background(),
		services.FormInput{Title: "慢速客户端", ConsentText: "我同意", PrivacyURL: "https://ma.example.com/privacy", Published: true,
			Fields: []services.Field{{Kind: services.FieldName, Label: "姓名", Required: true}}}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, deploymentEnv(dsn, sb.internal(
		fmt.Sprintf("read_header_timeout=%s,read_timeout=%s", headerTimeout, readTimeout))))
	client := noRedirects(5 * time.Second)
	quickGet(t, client, s.URL+"/healthz", 2*time.Second)

	// Slowloris: 40 connections trickle a header line every 100 ms.
	const slow = 40
	var wg sync.WaitGroup
	ended := make([]time.Duration, slow)
	for i := range slow {
		c := rawConn(t, s.URL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
				return
			}
			done := make(chan time.Time, 1)
			go func() { _, at := awaitEnd(c, 5*time.Second); done <- at }()
			for {
				select {
				case at := <-done:
					if !at.IsZero() {
						ended[i] = at.Sub(began)
					}
					return
				case <-time.After(100 * time.Millisecond):
					_, _ = io.WriteString(c, fmt.Sprintf("X-Trickle-%d: %d\r\n", i, time.Now().UnixNano()))
				}
			}
		}()
	}
	for range 5 {
		quickGet(t, client, s.URL+"/healthz", 2*time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	for i, d := range ended {
		if d == 0 || d > headerTimeout+2*time.Second {
			t.Fatalf("slowloris connection %d not cut off by the header timeout (%s; 0 = still open after 5 s)", i, d)
		}
	}

	// Bodies announced beyond the limit: 413 before the body is sent.
	for _, path := range []string{"/f/" + form.Slug, "/callbacks/oa?encrypt_type=aes", "/admin/login"} {
		c := rawConn(t, s.URL)
		began := time.Now()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: %d\r\n\r\n", path, 200<<20)
		got, _ := awaitEnd(c, 3*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 413") || time.Since(began) > 2*time.Second {
			t.Fatalf("POST %s with a 200 MB Content-Length: %.60q after %s", path, got, time.Since(began))
		}
	}
	// Bodies streamed (chunked, no length) beyond the limit: refused once
	// the limit is crossed, long before the 64 MB are sent.
	for _, path := range []string{"/f/" + form.Slug, "/callbacks/wecom"} {
		c := rawConn(t, s.URL)
		began := time.Now()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Transfer-Encoding: chunked\r\n\r\n", path)
		var sent atomic.Int64
		go func() {
			chunk := append(fmt.Appendf(nil, "%x\r\n", 64<<10), append(bytes.Repeat([]byte("a"), 64<<10), "\r\n"...)...)
			for range 1024 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
				sent.Add(64 << 10)
			}
		}()
		got, _ := awaitEnd(c, 5*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 413") || time.Since(began) > 3*time.Second {
			t.Fatalf("POST %s streaming a huge body: %.60q after %s (%d bytes sent)", path, got, time.Since(began), sent.Load())
		}
	}

	// Many uploads trickling their bodies: the others are still served, a
	// real submission included, and the slow ones are cut off by the read
	// timeout.
	var up sync.WaitGroup
	cut := make([]time.Duration, slow)
	for i := range slow {
		c := rawConn(t, s.URL)
		up.Add(1)
		go func() {
			defer up.Done()
			began := time.Now()
			fmt.Fprintf(c, "POST /f/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
				"Content-Length: 10000\r\n\r\nt=slow-upload-%04d&f.name=", form.Slug, i)
			done := make(chan time.Time, 1)
			go func() { _, at := awaitEnd(c, 6*time.Second); done <- at }()
			for {
				select {
				case at := <-done:
					if !at.IsZero() {
						cut[i] = at.Sub(began)
					}
					return
				case <-time.After(100 * time.Millisecond):
					_, _ = io.WriteString(c, "x")
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	for i := range 5 {
		quickGet(t, client, s.URL+"/healthz", 2*time.Second)
		r := (&loadGen{base: s.URL, slug: form.Slug, client: client}).submit(int64(900000 + i))
		if !r.ok {
			t.Fatalf("a real submission while uploads trickle: %d %v", r.status, r.err)
		}
	}
	up.Wait()
	for i, d := range cut {
		if d == 0 || d > readTimeout+2*time.Second {
			t.Fatalf("slow upload %d not cut off by the read timeout (%s; 0 = still open after 6 s)", i, d)
		}
	}
	if n := countRows(t, db, `SELECT count(*) FROM form_submissions WHERE dedupe_key LIKE 'slow-upload-%'`); n != 0 {
		t.Fatalf("%d cut-off uploads were stored", n)
	}
}
