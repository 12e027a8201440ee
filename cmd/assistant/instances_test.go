package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// TestThreeInstancesOnOneDatabase runs three app instances of one deployment
// (shared SESSION_KEY and ENCRYPTION_KEY, separate DATA_DIRs) on one
// database, all talking to one WeCom sandbox, as behind a load balancer:
//   - a session signed in on one instance is accepted by the others;
//   - callbacks spread over the three are each stored once and processed
//     once (one claim, one moment each) by the three inbox workers;
//   - the access tokens are fetched once between them (PostgreSQL cache);
//   - the same sync started on two instances at once runs once: one starts
//     it, the other (and the command line) is told it is running.
func TestThreeInstancesOnOneDatabase(t *testing.T) {
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 2, Employees: 6, WeChatUsers: 500, ContactsPerEmployee: 60,
		Fans: 120, Overlap: 0.5})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	if _, err := services.NewAdminService(db, services.NewAuditService(db)).CreateAdmin(context.Background(), "ops",
		"correct horse battery", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	env := deploymentEnv(dsn, sb.internal("inbox_poll=50ms", "inbox_backoff=100ms"))
	var servers [3]*testServer
	var errs [3]error
	var wg sync.WaitGroup
	for i := range servers {
		dir := t.TempDir()
		wg.Add(1)
		go func() { defer wg.Done(); servers[i], errs[i] = launchServer(env, dir) }()
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		t.Cleanup(func() {
			if err := s.stop(); err != nil {
				t.Errorf("instance %d stopped with error: %v", i, err)
			}
		})
	}
	a, b, c := servers[0].URL, servers[1].URL, servers[2].URL

	// Sessions: the cookie instance A issued opens the console on B and C.
	signedIn := adminClient(t, a, "ops", "correct horse battery")
	var session string
	for _, ck := range signedIn.Jar.Cookies(mustURL(t, a+"/admin")) {
		session += ck.Name + "=" + ck.Value + "; "
	}
	for _, base := range []string{a, b, c} {
		for _, cookie := range []string{session, ""} {
			req, _ := http.NewRequest(http.MethodGet, base+"/admin", nil)
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			resp, err := noRedirects(10 * time.Second).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page := readAll(resp)
			switch {
			case cookie != "" && (resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="admin-user"`)):
				t.Fatalf("%s/admin with A's session: %d", base, resp.StatusCode)
			case cookie == "" && resp.StatusCode != http.StatusSeeOther:
				t.Fatalf("%s/admin without a session: %d", base, resp.StatusCode)
			}
		}
	}

	// Callbacks spread round robin over the instances, from a cold start
	// (no token cached anywhere yet).
	if n := sb.Hits("/cgi-bin/gettoken") + sb.Hits("/cgi-bin/token") + sb.Hits("/cgi-bin/stable_token"); n != 0 {
		t.Fatalf("%d token fetches before any work", n)
	}
	rels, fans := sb.relations(), sb.fans()
	var events []callbackDelivery
	now := time.Now().Unix()
	for _, f := range rels {
		events = append(events, callbackDelivery{"/callbacks/wecom", sb.wecomAdded(f, now)})
	}
	for i, p := range fans {
		events = append(events, callbackDelivery{"/callbacks/oa", sb.oaClick(p.OAOpenID, now+int64(i), "lb")})
	}
	client := noRedirects(10 * time.Second)
	sem := make(chan struct{}, 12)
	failures := make(chan string, len(events))
	for i, ev := range events {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if st, body, err := sb.postCallback(client, servers[i%3].URL, ev.path, ev.plain); st != 200 || body != "success" {
				failures <- body + " " + errString(err)
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Fatalf("a callback was not acknowledged: %s", f)
	}
	eventually(t, "the three workers drained the inbox", 60*time.Second, func() bool { return inboxSettled(t, db) })
	if n := countRows(t, db, `SELECT count(*) FROM wecom_inbox`); n != len(events) {
		t.Errorf("inbox rows = %d for %d callbacks", n, len(events))
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE attempts <> 1`); n != 0 {
		t.Errorf("%d inbox items were claimed more than once", n)
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'wecom_added'`); n != len(rels) {
		t.Errorf("wecom_added moments = %d, want %d", n, len(rels))
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'oa_menu_clicked'`); n != len(fans) {
		t.Errorf("oa_menu_clicked moments = %d, want %d", n, len(fans))
	}
	wecomTokens, oaTokens := sb.Hits("/cgi-bin/gettoken"), sb.Hits("/cgi-bin/token")+sb.Hits("/cgi-bin/stable_token")
	if wecomTokens != 1 || oaTokens != 1 {
		t.Errorf("token fetches between three instances: WeCom %d, Official Account %d; want 1 each", wecomTokens, oaTokens)
	}

	// The same sync started on B and C at once, while WeCom is slow enough
	// for them to overlap; then the command line on the side. The pages run
	// concurrently, so each is slowed by 2 s: at 400 ms the whole sync ended
	// in about a second, sometimes before the command line had started.
	if _, err := sb.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/batch/get_by_user", LatencyMS: 2000, Times: -1}); err != nil {
		t.Fatal(err)
	}
	var pages [2]string
	for i, base := range []string{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := signedIn.PostForm(base+"/admin/sync/contacts", nil)
			if err != nil {
				pages[i] = err.Error()
				return
			}
			readAll(resp)
			if resp.StatusCode != http.StatusSeeOther {
				pages[i] = resp.Status
				return
			}
			if resp, err = signedIn.Get(base + resp.Header.Get("Location")); err == nil {
				pages[i] = readAll(resp)
			}
		}()
	}
	wg.Wait()
	var out bytes.Buffer
	u := sb.URLs()
	cliErr := run(t.Context(), []string{"sync", "contacts", "--wecom-base-url", u.WeComAPI, "--oa-base-url", u.OfficialAPI}, &out, envOf(env))
	// The instance whose start was refused says why.
	if n := strings.Count(pages[0]+pages[1], `data-testid="sync-notice"`); n != 1 {
		t.Errorf("%d of the two pages explain that the sync already runs, want 1", n)
	}
	for i, page := range pages {
		// Both pages show the one job running, without a start button.
		if !strings.Contains(page, `data-testid="sync-progress"`) || strings.Contains(page, `data-testid="sync-start-contacts"`) {
			card := page[max(strings.Index(page, `data-testid="sync-contacts"`), 0):]
			t.Errorf("sync page of instance %c after starting: %.600q", 'B'+i, card)
		}
	}
	if cliErr == nil || services.ErrorCode(cliErr) != services.ECONFLICT {
		t.Errorf("assistant sync contacts while it runs: %v (want: it is running)\n%s", cliErr, out.String())
	}
	eventually(t, "the sync done", 60*time.Second, func() bool {
		return countRows(t, db, `SELECT count(*) FROM sync_jobs WHERE kind = 'contacts' AND state = 'done'`) == 1
	})
	var job struct {
		Jobs     int   `db:"jobs"`
		Attempts int   `db:"attempts"`
		Received int64 `db:"received"`
	}
	if err := db.Get(&job, `SELECT count(*) AS jobs, sum(attempts) AS attempts, sum(received) AS received
		FROM sync_jobs WHERE kind = 'contacts'`); err != nil {
		t.Fatal(err)
	}
	if job.Jobs != 1 || job.Attempts != 1 || job.Received != int64(len(rels)) {
		t.Errorf("contact sync ran %d jobs, %d starts, received %d (want 1, 1, %d)", job.Jobs, job.Attempts, job.Received, len(rels))
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'wecom_added'`); n != len(rels) {
		t.Errorf("wecom_added moments after the sync = %d, want %d", n, len(rels))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
