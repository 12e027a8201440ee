package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

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

var _ = strings.Contains
var _ = context.Background
