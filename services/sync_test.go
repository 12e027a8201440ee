package services

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/wecom"
)

const batchPath = "/cgi-bin/externalcontact/batch/get_by_user"

// syncEnv is a sandbox, a client pointed at it and a sync service on a
// fresh database.
type syncEnv struct {
	sb  *sandbox.Sandbox
	db  *sqlx.DB
	svc *SyncService
	t   SyncTarget
}

func newSyncEnv(tb testing.TB) *syncEnv {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 7, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("sandbox: %v", err)
	}
	tb.Cleanup(func() { _ = sb.Close(context.Background()) })
	o, u := sb.Options(), sb.URLs()
	c, err := wecom.New(wecom.Config{
		CorpID: o.Corp.CorpID, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		ContactsSyncSecret: o.Corp.ContactSecret,
		OA:                 wecom.OAConfig{AppID: o.Official.AppID, Secret: o.Official.Secret},
		WeComBaseURL:       u.WeComAPI, OABaseURL: u.OfficialAPI, OAuthBaseURL: u.OAuth, PoolSize: 8,
	}, wecom.NewMemoryCache(), nil)
	if err != nil {
		tb.Fatalf("client: %v", err)
	}
	db := pgtest.NewDB(tb)
	box := testBox(tb)
	svc := NewSyncService(db, box, NewIdentityService(db, box), nil)
	svc.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return &syncEnv{sb: sb, db: db, svc: svc, t: SyncTarget{CorpID: o.Corp.CorpID, OAAppID: o.Official.AppID, Client: c}}
}

func (e *syncEnv) seed(tb testing.TB, in sandbox.SeedInput) {
	tb.Helper()
	if _, err := e.sb.Seed(in); err != nil {
		tb.Fatal(err)
	}
}

func (e *syncEnv) count(tb testing.TB, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := e.db.Get(&n, q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// assertAllContacts checks every sandbox relation is mirrored and every
// customer is linked with its unionid and one wecom_added moment per relation.
func (e *syncEnv) assertAllContacts(tb testing.TB, relations int) {
	tb.Helper()
	if n := e.count(tb, `SELECT count(*) FROM wecom_follows`); n != int64(relations) {
		tb.Errorf("wecom_follows = %d, want %d", n, relations)
	}
	customers := e.count(tb, `SELECT count(*) FROM wecom_external_contacts`)
	if n := e.count(tb, `SELECT count(*) FROM identities WHERE kind = 'wecom_external_userid'`); n != customers {
		tb.Errorf("external_userid identities = %d, want %d", n, customers)
	}
	// the external_userid and the unionid of a customer belong to one user
	if n := e.count(tb, `SELECT count(*) FROM wecom_external_contacts c
JOIN identities x ON x.kind = 'wecom_external_userid' AND x.key = c.external_userid
JOIN identities u ON u.kind = 'unionid' AND u.key = c.unionid WHERE c.unionid <> '' AND x.user_id <> u.user_id`); n != 0 {
		tb.Errorf("%d customers with external_userid and unionid on different users", n)
	}
	if n := e.count(tb, `SELECT count(*) FROM moments WHERE kind = 'wecom_added'`); n != int64(relations) {
		tb.Errorf("wecom_added moments = %d, want %d", n, relations)
	}
}

// snapshot counts what a second run must not change.
func (e *syncEnv) snapshot(tb testing.TB) [6]int64 {
	return [6]int64{
		e.count(tb, `SELECT count(*) FROM marketing_users`),
		e.count(tb, `SELECT count(*) FROM identities`),
		e.count(tb, `SELECT count(*) FROM moments`),
		e.count(tb, `SELECT count(*) FROM wecom_follows`),
		e.count(tb, `SELECT coalesce(extract(epoch FROM max(updated_at)) * 1e6, 0)::bigint FROM wecom_follows`),
		e.count(tb, `SELECT coalesce(extract(epoch FROM max(updated_at)) * 1e6, 0)::bigint FROM wecom_external_contacts`),
	}
}

func TestSyncContactsResumesAfterInterruption(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 20, WeChatUsers: 6000, ContactsPerEmployee: 300})
	const relations = 20 * 300
	e.svc.PageSize = 50 // 120 pages

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := e.svc.Run(ctx, e.t, SyncContacts, "test"); done <- err }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if e.count(t, `SELECT coalesce(sum(pages), 0) FROM sync_job_chunks`) >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sync made no progress")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel() // killed mid-run
	<-done
	j := e.latest(t, SyncContacts)
	written := e.count(t, `SELECT count(*) FROM wecom_follows`)
	if j.State != SyncFailed || written == 0 || written >= relations {
		t.Fatalf("after cancel: state %s, %d of %d relations written", j.State, written, relations)
	}
	if e.count(t, `SELECT count(*) FROM sync_job_chunks WHERE cursor <> '' OR done`) == 0 {
		t.Fatal("no checkpoint was written")
	}
	hitsBefore := e.sb.Hits(batchPath)

	j2, err := e.svc.Run(context.Background(), e.t, SyncContacts, "test")
	if err != nil {
		t.Fatal(err)
	}
	if j2.ID != j.ID || j2.Attempts != 2 || j2.State != SyncDone {
		t.Fatalf("resume: job %d attempts %d state %s, want job %d resumed", j2.ID, j2.Attempts, j2.State, j.ID)
	}
	// Resumed, not restarted: the second run fetched only what was left
	// (plus at most one page per stream that was in flight).
	if again := e.sb.Hits(batchPath) - hitsBefore; again >= relations/50 {
		t.Errorf("resume fetched %d pages, a restart would fetch %d", again, relations/50)
	}
	e.assertAllContacts(t, relations)
	rep, _ := j2.Report()
	if rep.Remote != relations || rep.Local != relations || !rep.InStep() {
		t.Errorf("report = %+v", rep)
	}
}

func (e *syncEnv) latest(tb testing.TB, k SyncKind) SyncJob {
	tb.Helper()
	jobs, err := e.svc.LatestJobs(context.Background(), e.t.CorpID)
	if err != nil {
		tb.Fatal(err)
	}
	return jobs[k]
}

func TestSyncContactsTwiceChangesNothing(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 5, WeChatUsers: 800, ContactsPerEmployee: 200, Tags: true})
	// a customer followed by two employees, with remark phones
	p, err := e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "双跟进", Phone: "13912345678"})
	if err != nil {
		t.Fatal(err)
	}
	for _, emp := range []string{"emp001", "emp002"} {
		if _, err := e.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: emp, RemarkMobiles: []string{"13912345678"}, NoWelcomeCode: true}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	j1, err := e.svc.Run(ctx, e.t, SyncContacts, "test")
	if err != nil || j1.State != SyncDone {
		t.Fatalf("first run: %+v %v", j1, err)
	}
	e.assertAllContacts(t, 1002)
	// the remark phone joined the customer's user, unverified
	if n := e.count(t, `SELECT count(DISTINCT user_id) FROM identities WHERE user_id IN
(SELECT user_id FROM identities WHERE key = $1)`, p.UnionID); n != 1 {
		t.Errorf("double-followed customer spread over %d users", n)
	}
	if n := e.count(t, `SELECT count(*) FROM identities i JOIN identities u ON u.user_id = i.user_id
WHERE u.key = $1 AND i.kind = 'phone' AND NOT i.verified`, p.UnionID); n != 1 {
		t.Errorf("remark phone identities = %d, want 1 unverified", n)
	}
	before := e.snapshot(t)
	j2, err := e.svc.Run(ctx, e.t, SyncContacts, "test")
	if err != nil {
		t.Fatal(err)
	}
	if j2.ID == j1.ID || j2.Changed != 0 {
		t.Errorf("second run: job %d changed %d rows, want a new job changing 0", j2.ID, j2.Changed)
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("second run changed the data: %v -> %v", before, after)
	}
}

// An injected 42001 mid-sync refreshes the token once and the sync goes on;
// -1 and 45009 are retried with backoff.
func TestSyncContactsTokenAndRateLimitFaults(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 8, WeChatUsers: 2000, ContactsPerEmployee: 250})
	ctx := context.Background()
	if err := e.t.Client.CheckConnection(ctx); err != nil {
		t.Fatal(err)
	}
	var waits []int
	e.svc.Backoff = func(n int) time.Duration { waits = append(waits, n); return time.Millisecond }
	e.svc.Concurrency = 1 // waits is not locked
	tokens := e.sb.Hits("/cgi-bin/gettoken")
	for _, f := range []sandbox.Fault{
		{Path: batchPath, ErrCode: 42001, Times: 1},
		{Path: batchPath, ErrCode: -1, Times: -1, Rate: 0.1},
		{Path: batchPath, ErrCode: 45009, Times: -1, Rate: 0.1},
		{Path: batchPath, ErrCode: 45033, Times: 2},
	} {
		if _, err := e.sb.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	j, err := e.svc.Run(ctx, e.t, SyncContacts, "test")
	if err != nil || j.State != SyncDone {
		t.Fatalf("run: %+v %v", j, err)
	}
	e.assertAllContacts(t, 2000)
	if n := e.sb.Hits("/cgi-bin/gettoken") - tokens; n != 1 {
		t.Errorf("gettoken calls = %d, want exactly 1 refresh", n)
	}
	if j.Retries < 3 || int64(len(waits)) != j.Retries {
		t.Errorf("retries = %d (backoff waits %v), want ≥ 3, each after a backoff", j.Retries, waits)
	}
}

func TestSyncFailsAfterMaxRetriesAndKeepsCheckpoint(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 2, WeChatUsers: 400, ContactsPerEmployee: 200})
	e.svc.MaxRetries = 2
	e.svc.PageSize = 100
	e.svc.Concurrency = 1
	ctx := context.Background()
	// the first page goes through, then WeCom stays busy
	if _, err := e.sb.AddFault(sandbox.Fault{Path: batchPath, ErrCode: 45009, Times: 3, LatencyMS: 0}); err != nil {
		t.Fatal(err)
	}
	j, _ := e.svc.Run(ctx, e.t, SyncContacts, "test")
	if j.State != SyncFailed || j.Error == "" {
		t.Fatalf("job = %+v, want failed with a reason", j)
	}
	j, err := e.svc.Run(ctx, e.t, SyncContacts, "test")
	if err != nil || j.State != SyncDone || j.Attempts != 2 {
		t.Fatalf("resume = %+v %v", j, err)
	}
	e.assertAllContacts(t, 400)
}

func TestSyncOneAtATime(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 2, WeChatUsers: 100, ContactsPerEmployee: 50})
	ctx := context.Background()
	r, err := e.svc.begin(ctx, e.t, SyncContacts, "a")
	if err != nil {
		t.Fatal(err)
	}
	// another instance (its own service, same database)
	other := NewSyncService(e.db, testBox(t), e.svc.ids, nil)
	if _, err := other.Run(ctx, e.t, SyncContacts, "b"); ErrorCode(err) != ECONFLICT {
		t.Fatalf("second runner: %v, want ECONFLICT", err)
	}
	if _, err := other.Run(ctx, e.t, SyncTags, "b"); err != nil {
		t.Fatalf("another kind may run: %v", err)
	}
	r.release()
	if _, err := other.Run(ctx, e.t, SyncContacts, "b"); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestSyncReconciliationReportsGaps(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 3, WeChatUsers: 300, ContactsPerEmployee: 100})
	ctx := context.Background()
	if _, err := e.svc.Run(ctx, e.t, SyncEmployees, "test"); err != nil {
		t.Fatal(err)
	}
	j, err := e.svc.Run(ctx, e.t, SyncContacts, "test")
	if err != nil {
		t.Fatal(err)
	}
	// five relations of emp002 disappear here (e.g. removed by hand)
	e.db.MustExec(`UPDATE wecom_follows SET deleted_at = now(), deleted_by_staff = true WHERE ctid IN
(SELECT ctid FROM wecom_follows WHERE userid = 'emp002' LIMIT 5)`)
	rep, err := e.svc.reconcile(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Remote != 300 || rep.Local != 295 || len(rep.Gaps) != 1 || rep.Gaps[0].UserID != "emp002" ||
		rep.Gaps[0].Missing() != 5 || rep.Customers != 295 {
		t.Fatalf("report = %+v", rep)
	}
	name := e.sb.Employees()[1].Name
	if want := "企业微信报告 300 个客户关系；本地 295 个；" + name + " (emp002) 缺 5 个"; rep.Summary() != want {
		t.Errorf("summary = %q, want %q", rep.Summary(), want)
	}
}

func TestSyncEmployeesTagsGroupsFans(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Departments: 3, Employees: 6, WeChatUsers: 500, ContactsPerEmployee: 40,
		Fans: 300, Overlap: 0.5, Tags: true})
	ctx := context.Background()
	custs := e.sb.Customers("emp001", 3)
	if _, err := e.sb.CreateGroupChat(sandbox.NewGroupChat{Owner: "emp001", Name: "VIP群",
		Members: []string{custs[0].ExternalUserID, custs[1].ExternalUserID, "emp002"}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []SyncKind{SyncEmployees, SyncTags, SyncContacts, SyncGroups, SyncFans} {
		j, err := e.svc.Run(ctx, e.t, k, "test")
		if err != nil || j.State != SyncDone {
			t.Fatalf("%s: %+v %v", k, j, err)
		}
		rep, _ := j.Report()
		if rep.Remote != rep.Local || rep.Remote == 0 {
			t.Errorf("%s report: %s", k, rep.Summary())
		}
		again, err := e.svc.Run(ctx, e.t, k, "test")
		if err != nil || again.Changed != 0 {
			t.Errorf("%s second run changed %d (%v)", k, again.Changed, err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM wecom_employees WHERE deleted_at IS NULL AND name <> ''`); n != 6 {
		t.Errorf("employees = %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM wecom_departments WHERE deleted_at IS NULL`); n < 3 {
		t.Errorf("departments = %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM wecom_group_members WHERE left_at IS NULL`); n < 3 {
		t.Errorf("group members = %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'group_joined'`); n != 2 {
		t.Errorf("group_joined moments = %d, want 2", n)
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'oa_subscribed'`); n != 300 {
		t.Errorf("oa_subscribed moments = %d, want 300", n)
	}
	// fans who are customers too are one marketing user (by unionid)
	if n := e.count(t, `SELECT count(*) FROM oa_followers f JOIN wecom_external_contacts c ON c.unionid = f.unionid
JOIN identities a ON a.kind = 'oa_openid' AND a.key = f.openid
JOIN identities b ON b.kind = 'wecom_external_userid' AND b.key = c.external_userid WHERE a.user_id <> b.user_id`); n != 0 {
		t.Errorf("%d fans not linked to their customer", n)
	}
}
