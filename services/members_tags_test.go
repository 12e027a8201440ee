package services

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// tagWeChat hands out one client.
type tagWeChat struct{ c *wecom.Client }

func (f tagWeChat) WeChat(context.Context) (*wecom.Client, error) { return f.c, nil }

// tagEnv is a member followed by two employees in the sandbox, mirrored and
// linked, with the member tag service on it.
type tagEnv struct {
	*syncEnv
	tags    *MemberTagService
	members *MemberService
	admin   Operator
	userID  int64
	extID   string
}

func newTagEnv(t *testing.T) *tagEnv {
	e := &tagEnv{syncEnv: newSyncEnv(t), admin: Operator{Kind: "local", ID: "1", Role: RoleAdmin}}
	ctx := context.Background()
	sb := e.sb
	for _, u := range []string{"zhangsan", "lisi"} {
		_, err := sb.CreateEmployee(sandbox.NewEmployee{UserID: u, Name: u})
		tagMust(t, err)
	}
	p, err := sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "会员甲"})
	tagMust(t, err)
	for _, u := range []string{"zhangsan", "lisi"} {
		res, err := sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: u})
		tagMust(t, err)
		e.extID = res.ExternalUserID
	}
	if _, err := e.db.Exec(`UPDATE wecom_settings SET corp_id = $1`, e.t.CorpID); err != nil {
		t.Fatal(err)
	}
	for _, k := range []SyncKind{SyncEmployees, SyncContacts} {
		if j, err := e.svc.Run(ctx, e.t, k, "test"); err != nil || j.State != SyncDone {
			t.Fatalf("sync %s: %+v %v", k, j, err)
		}
	}
	ids := NewIdentityService(e.db, testBox(t))
	r, err := ids.Link(ctx, Observation{Source: "crm", Ref: "m1", Identities: []IdentityInput{
		{Kind: KindMember, Scope: "crm", Key: "M1"}, {Kind: KindUnionID, Key: p.UnionID}}})
	tagMust(t, err)
	e.userID = r.UserID
	audit := NewAuditService(e.db)
	e.members = NewMemberService(e.db, audit)
	e.tags = NewMemberTagService(e.db, audit, tagWeChat{e.t.Client}, nil)
	e.tags.Backoff = func(int) time.Duration { return 0 }
	return e
}

func tagMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// relationTags are the tag ids WeCom (the sandbox) holds on each relation.
func (e *tagEnv) relationTags(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for _, c := range e.sb.Customers("", 0) {
		if c.ExternalUserID != e.extID {
			continue
		}
		for _, f := range c.Follows {
			out[f.UserID] = f.TagIDs
		}
	}
	if len(out) != 2 {
		t.Fatalf("relations in the sandbox: %v", out)
	}
	return out
}

func (e *tagEnv) levelTag(t *testing.T, name string) string {
	var id string
	if err := e.db.Get(&id, `SELECT corp_tag_id FROM member_levels WHERE name = $1`, name); err != nil || id == "" {
		t.Fatalf("level %s tag: %q %v", name, id, err)
	}
	return id
}

func (e *tagEnv) grow(t *testing.T, points int64) {
	t.Helper()
	if _, err := e.members.AdjustGrowth(context.Background(), e.admin, e.userID, points, "test"); err != nil {
		t.Fatal(err)
	}
}

// assertOnlyTag checks both relations carry want among the level tags, in
// WeCom and in the mirror.
func (e *tagEnv) assertOnlyTag(t *testing.T, want string, levelTags []string) {
	t.Helper()
	for emp, tags := range e.relationTags(t) {
		for _, lt := range levelTags {
			if slices.Contains(tags, lt) != (lt == want) {
				t.Fatalf("relation %s tags %v, want level tag %s only", emp, tags, want)
			}
		}
	}
	var mirrored int
	_ = e.db.Get(&mirrored, `SELECT count(*) FROM wecom_follows WHERE external_userid = $1 AND $2 = ANY (tag_ids)`, e.extID, want)
	if mirrored != 2 {
		t.Fatalf("mirror: %d relations carry %s, want 2", mirrored, want)
	}
}

func TestMemberLevelTagSync(t *testing.T) {
	e := newTagEnv(t)
	ctx := context.Background()
	n, err := e.tags.CreateLevelTags(ctx, e.admin)
	if err != nil || n != 3 {
		t.Fatalf("CreateLevelTags = %d, %v", n, err)
	}
	silver, gold := e.levelTag(t, "银卡会员"), e.levelTag(t, "金卡会员")
	levelTags := []string{e.levelTag(t, "普通会员"), silver, gold}
	if opts, _ := e.tags.TagOptions(ctx); len(opts) < 3 || opts[0].Group == "" {
		t.Fatalf("created tags not in the library: %+v", opts)
	}
	e.grow(t, 1200)
	if _, err := e.tags.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	e.assertOnlyTag(t, silver, levelTags)
	e.grow(t, 5000)
	if _, err := e.tags.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	e.assertOnlyTag(t, gold, levelTags)
	var moments int
	_ = e.db.Get(&moments, `SELECT count(*) FROM moments WHERE kind = 'wecom_tagged' AND channel = 'member_level'`)
	if moments != 4 { // two relations, two level changes
		t.Fatalf("wecom_tagged moments = %d, want 4", moments)
	}
	// Nothing left to do: a second pass makes no WeCom call.
	marks := e.sb.Hits("/cgi-bin/externalcontact/mark_tag")
	e.grow(t, 1)
	if _, err := e.tags.ProcessDue(ctx); err != nil || e.sb.Hits("/cgi-bin/externalcontact/mark_tag") != marks {
		t.Fatalf("no level change, yet mark_tag was called (%v)", err)
	}
}

// A failing mark_tag is retried, then left failed with WeCom's error on the
// page; an admin's retry succeeds once WeCom is back.
func TestMemberLevelTagSyncFailureIsVisible(t *testing.T) {
	e := newTagEnv(t)
	ctx := context.Background()
	if _, err := e.tags.CreateLevelTags(ctx, e.admin); err != nil {
		t.Fatal(err)
	}
	e.tags.MaxAttempts = 2
	_, err := e.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/mark_tag", ErrCode: 45009, Times: -1})
	tagMust(t, err)
	e.grow(t, 1200)
	if _, err := e.tags.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := e.tags.SyncStatus(ctx)
	if err != nil || len(st.Failed) != 1 || st.Pending != 0 || st.Failed[0].Attempts != 2 ||
		!strings.Contains(st.Failed[0].LastError, "45009") {
		t.Fatalf("status after two failures = %+v, %v", st, err)
	}
	e.sb.ClearFaults()
	if err := e.tags.RetryTagSync(ctx, e.admin, st.Failed[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tags.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	e.assertOnlyTag(t, e.levelTag(t, "银卡会员"), []string{e.levelTag(t, "金卡会员")})
	if st, _ := e.tags.SyncStatus(ctx); len(st.Failed) != 0 || st.Pending != 0 {
		t.Fatalf("status after the retry = %+v", st)
	}
}

// Rebinding a level moves its members from the old tag to the new one;
// another level's tag and unknown tags are refused.
func TestBindLevelTag(t *testing.T) {
	e := newTagEnv(t)
	ctx := context.Background()
	if _, err := e.tags.CreateLevelTags(ctx, e.admin); err != nil {
		t.Fatal(err)
	}
	e.grow(t, 1200)
	if _, err := e.tags.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	var silverID int64
	tagMust(t, e.db.Get(&silverID, `SELECT id FROM member_levels WHERE name = '银卡会员'`))
	old := e.levelTag(t, "银卡会员")
	other, err := e.t.Client.AddCorpTag(ctx, "", "客户分级", "VIP")
	tagMust(t, err)
	if err := e.tags.BindLevelTag(ctx, e.admin, silverID, other.Tags[0].ID); ErrorCode(err) != EINVALID {
		t.Fatalf("binding a tag missing from the library = %v, want EINVALID", err)
	}
	if _, err := e.svc.Run(ctx, e.t, SyncTags, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.tags.BindLevelTag(ctx, e.admin, silverID, e.levelTag(t, "金卡会员")); ErrorCode(err) != EINVALID {
		t.Fatalf("binding another level's tag = %v, want EINVALID", err)
	}
	if err := e.tags.BindLevelTag(ctx, e.admin, silverID, other.Tags[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tags.ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	e.assertOnlyTag(t, other.Tags[0].ID, []string{old, other.Tags[0].ID})
	if err := e.tags.BindLevelTag(ctx, Operator{Kind: "wecom", ID: "m", Role: RoleManager}, silverID, ""); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("a manager binding = %v, want EFORBIDDEN", err)
	}
}

// The running worker picks up a binding at once (Wake), which tags the
// members already at the level; finished jobs are swept after a day.
func TestMemberTagWorkerWakesAndSweeps(t *testing.T) {
	e := newTagEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.tags.RunWorker(ctx, time.Minute) }()
	defer func() { cancel(); <-done }()
	e.grow(t, 1200) // no level has a tag yet: nothing queued
	var jobs int
	tagMust(t, e.db.Get(&jobs, `SELECT count(*) FROM member_tag_jobs`))
	if jobs != 0 {
		t.Fatalf("%d jobs queued while no level has a tag", jobs)
	}
	if _, err := e.tags.CreateLevelTags(context.Background(), e.admin); err != nil {
		t.Fatal(err)
	}
	silver := e.levelTag(t, "银卡会员")
	deadline := time.Now().Add(10 * time.Second)
	settled := func() bool {
		var open int
		tagMust(t, e.db.Get(&open, `SELECT count(*) FROM member_tag_jobs WHERE state <> 'done'`))
		rel := e.relationTags(t)
		return open == 0 && slices.Contains(rel["zhangsan"], silver) && slices.Contains(rel["lisi"], silver)
	}
	for !settled() {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not tag the member at the bound level")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err := e.db.Exec(`UPDATE member_tag_jobs SET updated_at = now() - interval '2 days' WHERE state = 'done'`)
	tagMust(t, err)
	tagMust(t, e.tags.sweepDone(context.Background()))
	tagMust(t, e.db.Get(&jobs, `SELECT count(*) FROM member_tag_jobs`))
	if jobs != 0 {
		t.Fatalf("%d finished jobs left after the sweep", jobs)
	}
}
