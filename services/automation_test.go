package services

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// autoEnv is a mirrored sandbox corp with the automation service and a
// worker, an admin operator and one customer relation to act on.
type autoEnv struct {
	*syncEnv
	auto   *AutomationService
	worker *AutomationWorker
	admin  Operator
	rel    sandbox.Follow // a relation of a customer with a unionid
	union  string
}

type fixedClient struct{ c *wecom.Client }

func (f fixedClient) WeChat(context.Context) (*wecom.Client, error) { return f.c, nil }

func newAutoEnv(t *testing.T) *autoEnv {
	t.Helper()
	e := &autoEnv{syncEnv: newSyncEnv(t), admin: Operator{Kind: "local", ID: "1", Role: RoleAdmin}}
	e.seed(t, sandbox.SeedInput{Departments: 1, Employees: 3, WeChatUsers: 8, ContactsPerEmployee: 2, Tags: true})
	ctx := context.Background()
	for _, k := range []SyncKind{SyncEmployees, SyncTags, SyncContacts} {
		if _, err := e.svc.Run(ctx, e.t, k, "test"); err != nil {
			t.Fatal(err)
		}
	}
	e.db.MustExec(`UPDATE wecom_settings SET corp_id = $1`, e.t.CorpID)
	audit := NewAuditService(e.db)
	e.auto = NewAutomationService(e.db, audit, NewMemberService(e.db, audit), fixedClient{e.t.Client}, "https://app.example.com/")
	e.auto.Backoff = func(int) time.Duration { return 0 }
	e.worker = NewAutomationWorker(e.auto, nil)
	for _, c := range e.sb.Customers("", 100) {
		if len(c.Follows) > 0 && c.UnionID != "" {
			e.rel, e.union = c.Follows[0], c.UnionID
			break
		}
	}
	if e.union == "" {
		t.Fatal("no customer with a unionid in the sandbox")
	}
	return e
}

// drain runs the worker until nothing is due.
func (e *autoEnv) drain(t *testing.T) {
	t.Helper()
	for i := 0; e.worker.RunOnce(context.Background()) > 0; i++ {
		if i > 100 {
			t.Fatal("the queue does not drain")
		}
	}
}

func (e *autoEnv) rule(t *testing.T, in AutomationRuleInput) AutomationRule {
	t.Helper()
	in.Enabled = true
	if in.Name == "" {
		in.Name = "规则 " + in.Action
	}
	r, err := e.auto.CreateRule(context.Background(), e.admin, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// register links a form submission of the customer with unionid on form.
func (e *autoEnv) register(t *testing.T, union string, form int64, token string, more ...IdentityInput) LinkResult {
	t.Helper()
	detail, _ := json.Marshal(map[string]any{"form_id": form, "channel": "sidebar"})
	r, err := e.svc.ids.Link(context.Background(), Observation{Source: "form", Ref: "form:" + token,
		Identities: append([]IdentityInput{{Kind: KindUnionID, Key: union}}, more...),
		Moments: []MomentInput{{Identity: 0, Kind: "form_submitted", Channel: "form", Title: "报名",
			Detail: detail, DedupKey: fmt.Sprintf("form_submitted:%d:%s", form, token)}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *autoEnv) form(t *testing.T, slug string) int64 {
	t.Helper()
	var id int64
	if err := e.db.Get(&id, `INSERT INTO forms (slug, title, consent_text, published) VALUES ($1, '报名', '同意', true) RETURNING id`, slug); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *autoEnv) tag(t *testing.T) (id, name string) {
	t.Helper()
	if err := e.db.QueryRow(`SELECT tag_id, name FROM wecom_tags ORDER BY tag_id LIMIT 1`).Scan(&id, &name); err != nil {
		t.Fatal(err)
	}
	return id, name
}

func (e *autoEnv) sandboxTags(ext string) []string {
	for _, c := range e.sb.Customers("", 1000) {
		for _, f := range c.Follows {
			if f.ExternalUserID == ext && f.UserID == e.rel.UserID {
				return f.TagIDs
			}
		}
	}
	return nil
}

// A registration on form F tags the customer in WeCom (once, even when the
// submission is replayed and the worker runs again); form G does nothing;
// history before the rule is left alone.
func TestAutomationTagsRegistrationOnForm(t *testing.T) {
	e := newAutoEnv(t)
	f, g := e.form(t, "formfformfformfa"), e.form(t, "formgformgformga")
	e.register(t, e.union, f, "before") // before the rule: history
	tag, name := e.tag(t)
	e.sb.ClearOutbox()
	r := e.rule(t, AutomationRuleInput{MomentKind: "form_submitted", FormID: f, Action: ActionTag, TagID: tag})
	for range 3 {
		e.register(t, e.union, f, "tok1") // the same submission three times: one moment
	}
	e.register(t, e.union, g, "tok2")
	e.drain(t)
	e.drain(t)
	if n := e.count(t, `SELECT count(*) FROM automation_executions`); n != 1 {
		t.Fatalf("executions = %d, want 1 (form F after the rule only)", n)
	}
	if got := e.sandboxTags(e.rel.ExternalUserID); !slices.Contains(got, tag) {
		t.Errorf("sandbox relation tags = %v, want %s", got, tag)
	}
	if n := len(e.sb.Outbox(sandbox.OutboxMarkTag)); n != 1 {
		t.Errorf("mark_tag calls = %d, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM wecom_follows WHERE external_userid = $1 AND $2 = ANY (tag_ids)`, e.rel.ExternalUserID, tag); n < 1 {
		t.Error("the mirror does not carry the tag")
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'automation_action' AND title = $1`, "自动打标签："+name); n != 1 {
		t.Errorf("timeline moments of the action = %d, want 1", n)
	}
	got, err := e.auto.Rule(context.Background(), e.admin, r.ID)
	if err != nil || got.Fired != 1 {
		t.Errorf("fired = %d, %v", got.Fired, err)
	}
}

// A moment from channel C does not trigger a rule for channel D.
func TestAutomationChannelFilter(t *testing.T) {
	e := newAutoEnv(t)
	e.rule(t, AutomationRuleInput{MomentKind: "wecom_added", Channel: "D", Action: ActionNotify})
	var identity int64
	if err := e.db.Get(&identity, `SELECT id FROM identities WHERE kind = 'unionid' AND key = $1`, e.union); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"C", "D"} {
		if _, err := e.svc.ids.RecordMoments(context.Background(), []MomentRecord{{IdentityID: identity,
			MomentInput: MomentInput{Kind: "wecom_added", Channel: ch, Title: "添加", DedupKey: "added:" + ch}}}); err != nil {
			t.Fatal(err)
		}
	}
	var chans []string
	if err := e.db.Select(&chans, `SELECT m.channel FROM automation_executions x JOIN moments m ON m.id = x.moment_id`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(chans, []string{"D"}) {
		t.Errorf("executions for channels %v, want [D]", chans)
	}
}

// What a rule does is itself a moment (automation_action) and never fires
// rules: with a tag rule on wecom_tagged and a notify rule on every kind
// the action could be confused with, one moment gives one execution each.
func TestAutomationMomentsDoNotRetrigger(t *testing.T) {
	e := newAutoEnv(t)
	tag, _ := e.tag(t)
	e.rule(t, AutomationRuleInput{MomentKind: "wecom_tagged", Action: ActionTag, TagID: tag})
	e.rule(t, AutomationRuleInput{MomentKind: "wecom_tagged", Action: ActionNotify})
	if _, err := e.auto.CreateRule(context.Background(), e.admin, AutomationRuleInput{Name: "x", MomentKind: KindAutomationAction,
		Action: ActionNotify}); ErrorFields(err)["kind"] == "" {
		t.Errorf("a rule on automation_action: %v, want refused", err)
	}
	var identity int64
	if err := e.db.Get(&identity, `SELECT id FROM identities WHERE kind = 'wecom_external_userid' AND key = $1`, e.rel.ExternalUserID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ids.RecordMoments(context.Background(), []MomentRecord{{IdentityID: identity,
		MomentInput: MomentInput{Kind: "wecom_tagged", EmployeeUserID: e.rel.UserID, Title: "标签变更", DedupKey: "tagged:1"}}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.drain(t)
	}
	if n := e.count(t, `SELECT count(*) FROM automation_executions`); n != 2 {
		t.Errorf("executions = %d, want 2 (one per rule)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'automation_action'`); n != 2 {
		t.Errorf("automation moments = %d, want 2", n)
	}
	// even inserted by hand, an automation_action moment queues nothing
	e.db.MustExec(`INSERT INTO automation_rules (name, moment_kind, action) VALUES ('any', 'wecom_tagged', 'notify')`)
	e.db.MustExec(`INSERT INTO moments (identity_id, kind, occurred_at, dedup_key) VALUES ($1, 'automation_action', now(), 'hand')`, identity)
	if n := e.count(t, `SELECT count(*) FROM automation_executions`); n != 2 {
		t.Errorf("executions after an automation moment = %d, want 2", n)
	}
}

// Lowest-load assignment respects the maximum with four workers at once.
func TestAutomationAssignRespectsMaxConcurrently(t *testing.T) {
	e := newAutoEnv(t)
	emps := []string{}
	if err := e.db.Select(&emps, `SELECT userid FROM wecom_employees ORDER BY userid LIMIT 2`); err != nil || len(emps) != 2 {
		t.Fatalf("employees %v %v", emps, err)
	}
	r := e.rule(t, AutomationRuleInput{MomentKind: "form_submitted", Action: ActionAssign, Employees: emps, MaxPerEmployee: 3})
	f := e.form(t, "assignassignassa")
	for i := range 10 {
		e.register(t, fmt.Sprintf("union-assign-%d", i), f, fmt.Sprintf("a%d", i))
	}
	var wg sync.WaitGroup
	for range 4 {
		w := NewAutomationWorker(e.auto, nil)
		w.Batch = 1
		wg.Go(func() {
			for w.RunOnce(context.Background()) > 0 {
			}
		})
	}
	wg.Wait()
	e.drain(t)
	var loads []int
	if err := e.db.Select(&loads, `SELECT count(*) FROM automation_assignments GROUP BY userid ORDER BY userid`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loads, []int{3, 3}) {
		t.Errorf("loads = %v, want [3 3]", loads)
	}
	got, _ := e.auto.Rule(context.Background(), e.admin, r.ID)
	if got.Fired != 6 || got.Skipped != 4 {
		t.Errorf("fired %d skipped %d, want 6 and 4", got.Fired, got.Skipped)
	}
	if n := e.count(t, `SELECT count(*) FROM automation_executions WHERE state = 'skipped' AND outcome LIKE '%均已满%'`); n != 4 {
		t.Errorf("skipped as full = %d, want 4", n)
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'automation_action' AND title LIKE '自动分配给：%'`); n != 6 {
		t.Errorf("assignment moments = %d, want 6", n)
	}
}

// Growth points go through the member growth code: the level changes and
// member_level_changed is recorded.
func TestAutomationGrowthChangesLevel(t *testing.T) {
	e := newAutoEnv(t)
	e.rule(t, AutomationRuleInput{MomentKind: "form_submitted", Action: ActionGrowth, Points: 1200})
	f := e.form(t, "growthgrowthgroa")
	res := e.register(t, "union-member", f, "g1", IdentityInput{Kind: KindMember, Scope: "crm", Key: "M1"})
	e.register(t, "union-nonmember", f, "g2")
	e.drain(t)
	var level string
	if err := e.db.Get(&level, `SELECT l.name FROM member_level_state s JOIN member_levels l ON l.id = s.level_id WHERE s.user_id = $1`, res.UserID); err != nil {
		t.Fatal(err)
	}
	if level != "银卡会员" {
		t.Errorf("level = %q, want 银卡会员", level)
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'member_level_changed'`); n != 1 {
		t.Errorf("member_level_changed moments = %d, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM automation_executions WHERE state = 'skipped' AND outcome LIKE '%不是会员%'`); n != 1 {
		t.Errorf("non-member skipped = %d, want 1", n)
	}
}

// Notifications: one card to the following employee; a send interrupted
// by a crash is not repeated; WeCom refusing is retried and then recorded
// failed with its errcode.
func TestAutomationNotify(t *testing.T) {
	e := newAutoEnv(t)
	e.auto.MaxAttempts = 2
	r := e.rule(t, AutomationRuleInput{MomentKind: "form_submitted", Action: ActionNotify})
	f := e.form(t, "notifynotifynota")
	e.sb.ClearOutbox()
	e.register(t, e.union, f, "n1")
	e.drain(t)
	msgs := e.sb.Outbox(sandbox.OutboxAppMessage)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Payload), "https://app.example.com/admin/users/") ||
		msgs[0].Keys["touser"] != e.rel.UserID {
		t.Fatalf("outbox = %+v", msgs)
	}

	// crash between the send and its record: the retry does not send again
	e.register(t, e.union, f, "n2")
	e.db.MustExec(`UPDATE automation_executions SET sending_since = now(), attempts = 1 WHERE state = 'pending'`)
	e.drain(t)
	if n := len(e.sb.Outbox(sandbox.OutboxAppMessage)); n != 1 {
		t.Errorf("messages after an interrupted send = %d, want 1", n)
	}
	if n := e.count(t, `SELECT count(*) FROM automation_executions WHERE state = 'skipped' AND outcome LIKE '%未重发%'`); n != 1 {
		t.Errorf("interrupted send not recorded as such (%d)", n)
	}

	if _, err := e.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/message/send", ErrCode: 60020, Times: -1}); err != nil {
		t.Fatal(err)
	}
	e.register(t, e.union, f, "n3")
	e.drain(t)
	var x struct {
		State    string `db:"state"`
		Attempts int    `db:"attempts"`
		Errcode  int    `db:"errcode"`
	}
	if err := e.db.Get(&x, `SELECT state, attempts, errcode FROM automation_executions WHERE state NOT IN ('done', 'skipped')`); err != nil {
		t.Fatal(err)
	}
	if x.State != "failed" || x.Attempts != 2 || x.Errcode != 60020 {
		t.Errorf("failing send = %+v, want failed after 2 attempts with 60020", x)
	}
	got, _ := e.auto.Rule(context.Background(), e.admin, r.ID)
	if got.Fired != 1 || got.Failed != 1 || got.Skipped != 1 {
		t.Errorf("counts %+v", got)
	}
}

// With no enabled rule the trigger is off (moments cost nothing extra); the
// first enabled rule switches it on, disabling or deleting the last one off.
func TestAutomationTriggerSwitch(t *testing.T) {
	db := pgtest.NewDB(t)
	audit := NewAuditService(db)
	auto := NewAutomationService(db, audit, NewMemberService(db, audit), fixedClient{}, "https://app.example.com")
	admin := Operator{Kind: "local", ID: "1", Role: RoleAdmin}
	ctx := context.Background()
	on := func() bool {
		var v bool
		if err := db.Get(&v, `SELECT tgenabled <> 'D' FROM pg_trigger WHERE tgname = 'automation_enqueue'`); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if on() {
		t.Fatal("trigger on without rules")
	}
	r, err := auto.CreateRule(ctx, admin, AutomationRuleInput{Name: "a", MomentKind: "form_submitted", Action: ActionNotify, Enabled: true})
	if err != nil || !on() {
		t.Fatalf("after the first rule: on=%v %v", on(), err)
	}
	r2, err := auto.CreateRule(ctx, admin, AutomationRuleInput{Name: "b", MomentKind: "form_viewed", Action: ActionNotify})
	if err != nil {
		t.Fatal(err)
	}
	if err := auto.SetRuleEnabled(ctx, admin, r.ID, false); err != nil || on() {
		t.Fatalf("after disabling the only enabled rule: on=%v %v", on(), err)
	}
	if err := auto.SetRuleEnabled(ctx, admin, r2.ID, true); err != nil || !on() {
		t.Fatalf("after enabling another: on=%v %v", on(), err)
	}
	if err := auto.DeleteRule(ctx, admin, r2.ID); err != nil || on() {
		t.Fatalf("after deleting it: on=%v %v", on(), err)
	}
	if n := countAudit(t, db, "automation_rule_%"); n != 5 {
		t.Errorf("audited rule changes = %d, want 5", n)
	}
	if _, err := auto.CreateRule(ctx, Operator{Kind: "wecom", ID: "m", Role: RoleManager}, AutomationRuleInput{}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("a manager creating a rule: %v", err)
	}
}

func countAudit(t *testing.T, db *sqlx.DB, like string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM audit_log WHERE action LIKE $1`, like); err != nil {
		t.Fatal(err)
	}
	return n
}
