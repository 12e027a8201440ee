package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// adminClient signs in to base as name and returns the client holding the
// session cookie.
func adminClient(t *testing.T, base, name, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := noRedirects(20 * time.Second)
	c.Jar = jar
	resp, err := c.PostForm(base+"/admin/login", url.Values{"name": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %s: status %d", name, resp.StatusCode)
	}
	return c
}

// startSync asks base to start a sync of kind (the admin page's button).
func startSync(t *testing.T, c *http.Client, base, kind string) {
	t.Helper()
	resp, err := c.PostForm(base+"/admin/sync/"+kind, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	readAll(resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/sync" {
		t.Fatalf("start %s sync: status %d to %q", kind, resp.StatusCode, resp.Header.Get("Location"))
	}
}

type syncState struct {
	ID       int64  `db:"id"`
	State    string `db:"state"`
	Attempts int    `db:"attempts"`
	Finished int64  `db:"finished"`
	Received int64  `db:"received"`
	Pages    int    `db:"pages"`
	Done     int    `db:"done_chunks"`
	Chunks   int    `db:"chunks"`
}

// TestKilledDuringSyncAndInboxProcessing runs the real binary, starts a
// contact sync from the admin page and feeds it callbacks whose processing
// WeCom slows down, and kills it with SIGKILL while both are half way. After
// a restart nothing acknowledged is lost: every callback is processed (the
// leases of the items in hand expire and they are claimed again), the same
// sync job resumes from its checkpoint (the pages written before the kill
// are not fetched again, and no relation is counted twice), and there is
// exactly one moment per relation and per click.
func TestKilledDuringSyncAndInboxProcessing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "assistant")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 2, Employees: 8, WeChatUsers: 1400, ContactsPerEmployee: 150,
		Fans: 100, Overlap: 0.5})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	if _, err := services.NewAdminService(db, services.NewAuditService(db)).CreateAdmin(context.Background(), "ops",
		"correct horse battery", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	// WeCom answers slowly, so that the kill finds work in hand.
	for path, ms := range map[string]int{"/cgi-bin/externalcontact/batch/get_by_user": 800,
		"/cgi-bin/externalcontact/get": 60, "/cgi-bin/user/info": 60} {
		if _, err := sb.AddFault(sandbox.Fault{Path: path, LatencyMS: ms, Times: -1}); err != nil {
			t.Fatal(err)
		}
	}
	env := deploymentEnv(dsn+" synchronous_commit=on", sb.internal("inbox_poll=50ms", "inbox_backoff=100ms", "inbox_lease=2s"))
	p := startBinary(t, bin, env)
	admin := adminClient(t, p.url, "ops", "correct horse battery")

	startSync(t, admin, p.url, "contacts")
	rels, fans := sb.relations(), sb.fans()
	client := noRedirects(10 * time.Second)
	now := time.Now().Unix()
	var keys []string
	for i, f := range fans {
		plain := sb.oaClick(f.OAOpenID, now+int64(i), "kill")
		if st, body, err := sb.postCallback(client, p.url, "/callbacks/oa", plain); st != 200 || body != "success" {
			t.Fatalf("OA callback %d: %d %q %v", i, st, body, err)
		}
		keys = append(keys, fmt.Sprintf("ev:%s:%d:CLICK:", f.OAOpenID, now+int64(i)))
	}
	for i, f := range rels[:100] {
		if st, body, err := sb.postCallback(client, p.url, "/callbacks/wecom", sb.wecomAdded(f, now)); st != 200 || body != "success" {
			t.Fatalf("WeCom callback %d: %d %q %v", i, st, body, err)
		}
	}
	acked := len(fans) + 100

	var before syncState
	job := func() syncState {
		var s syncState
		if err := db.Get(&s, `SELECT j.id, j.state, j.attempts, j.finished, j.received,
			coalesce(sum(c.pages), 0) AS pages, count(*) FILTER (WHERE c.done) AS done_chunks, count(c.chunk) AS chunks
			FROM sync_jobs j LEFT JOIN sync_job_chunks c ON c.job_id = j.id WHERE j.kind = 'contacts' GROUP BY j.id`); err != nil {
			t.Fatal(err)
		}
		return s
	}
	eventually(t, "the sync and the inbox half way", 60*time.Second, func() bool {
		before = job()
		done := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE state = 'done'`)
		return before.Pages >= 1 && before.Done < before.Chunks && done > 0 && done < acked
	})
	p.kill(t)
	before = job()
	pending := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE state = 'pending'`)
	leased := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE state = 'pending' AND locked_until > now()`)
	t.Logf("killed with sync job %+v; %d callbacks pending (%d leased)", before, pending, leased)
	if before.State != services.SyncRunning || before.Received >= int64(len(rels)) || pending == 0 {
		t.Fatalf("the kill came too late: job %+v, %d pending", before, pending)
	}
	hitsBefore := sb.Hits("/cgi-bin/externalcontact/batch/get_by_user")

	// A new process of the same deployment: the old session cookie still
	// works (same SESSION_KEY), the sync resumes, the inbox drains.
	p = startBinary(t, bin, env)
	startSync(t, admin, p.url, "contacts")
	eventually(t, "the resumed sync done", 90*time.Second, func() bool { return job().State == services.SyncDone })
	eventually(t, "every callback processed", 60*time.Second, func() bool { return inboxSettled(t, db) })

	after := job()
	refetched := sb.Hits("/cgi-bin/externalcontact/batch/get_by_user") - hitsBefore
	t.Logf("after the restart: job %+v; %d pages fetched again of %d", after, refetched, after.Pages)
	if after.ID != before.ID || after.Attempts != 2 {
		t.Errorf("the sync did not resume its job: before %+v, after %+v", before, after)
	}
	if after.Received != int64(len(rels)) {
		t.Errorf("the job received %d relations for %d in WeCom (pages written twice or lost)", after.Received, len(rels))
	}
	if refetched >= after.Pages {
		t.Errorf("the resumed sync fetched %d pages, as many as a whole sync (%d): not resumed from its checkpoint", refetched, after.Pages)
	}
	if n := countRows(t, db, `SELECT count(*) FROM sync_jobs WHERE kind = 'contacts'`); n != 1 {
		t.Errorf("%d contact sync jobs, want the one resumed", n)
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE dedup_key = ANY($1) AND state = 'done'`, pq.Array(keys)); n != len(keys) {
		t.Errorf("acknowledged clicks processed: %d of %d (%q)", n, len(keys), inboxProblems(db))
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_inbox`); n != acked {
		t.Errorf("inbox rows = %d for %d acknowledged callbacks", n, acked)
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'oa_menu_clicked'`); n != len(fans) {
		t.Errorf("oa_menu_clicked moments = %d, want %d", n, len(fans))
	}
	// The callbacks' adds and the sync's meet on one moment per relation.
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'wecom_added'`); n != len(rels) {
		t.Errorf("wecom_added moments = %d, want %d (one per relation)", n, len(rels))
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_follows WHERE deleted_at IS NULL`); n != len(rels) {
		t.Errorf("mirrored relations = %d, want %d", n, len(rels))
	}
}
