package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// The same add_external_contact callback delivered three times at once to
// two instances (through the real callback endpoint, the inbox and its
// workers, and each instance's rule workers): each rule fires once — one
// execution each, one mark_tag and one app message in the sandbox outbox,
// the tag on the contact — and the console counts one firing per rule.
func TestAutomationFiresOnceForAReplayedCallback(t *testing.T) {
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 1, Employees: 2, WeChatUsers: 6, ContactsPerEmployee: 2})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	if _, err := services.NewAdminService(db, services.NewAuditService(db)).CreateAdmin(context.Background(), "ops",
		"correct horse battery", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	tag, err := sb.CreateCorpTag(sandbox.NewCorpTag{GroupName: "自动化", Name: "VIP"})
	if err != nil {
		t.Fatal(err)
	}
	corp := sb.Options().Corp.CorpID
	db.MustExec(`INSERT INTO wecom_tags (corp_id, tag_id, name) VALUES ($1, $2, 'VIP')`, corp, tag.ID)

	env := deploymentEnv(dsn, sb.internal("inbox_poll=50ms"))
	a, b := launchAutomationServer(t, env), launchAutomationServer(t, env)
	admin := adminClient(t, a, "ops", "correct horse battery")
	for _, form := range []url.Values{
		{"name": {"加好友打标签"}, "kind": {"wecom_added"}, "action": {"tag"}, "tag": {tag.ID}, "enabled": {"1"}},
		{"name": {"加好友提醒"}, "kind": {"wecom_added"}, "action": {"notify"}, "enabled": {"1"}},
	} {
		resp, err := admin.PostForm(a+"/admin/automation", form)
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(resp); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("create rule: %d %.300s", resp.StatusCode, page)
		}
	}

	rel := sb.relations()[0]
	plain := sb.wecomAdded(rel, time.Now().Unix())
	client := noRedirects(10 * time.Second)
	var wg sync.WaitGroup
	for i, base := range []string{a, b, a} {
		wg.Go(func() {
			if st, body, err := sb.postCallback(client, base, "/callbacks/wecom", plain); st != 200 || body != "success" {
				t.Errorf("delivery %d: %d %s %v", i, st, body, err)
			}
		})
	}
	wg.Wait()
	eventually(t, "both rules executed", 30*time.Second, func() bool {
		return countRows(t, db, `SELECT count(*) FROM automation_executions WHERE state = 'done'`) == 2
	})
	time.Sleep(1500 * time.Millisecond) // a second firing, if any, would have run by now
	if n := countRows(t, db, `SELECT count(*) FROM automation_executions`); n != 2 {
		t.Errorf("executions = %d, want 2 (one per rule)", n)
	}
	if n := len(sb.Outbox(sandbox.OutboxMarkTag)); n != 1 {
		t.Errorf("mark_tag calls = %d, want 1", n)
	}
	if n := len(sb.Outbox(sandbox.OutboxAppMessage)); n != 1 {
		t.Errorf("app messages = %d, want 1", n)
	}
	if !slices.Contains(followTags(sb, rel), tag.ID) {
		t.Errorf("the contact's tags in WeCom = %v, want %s", followTags(sb, rel), tag.ID)
	}
	if n := countRows(t, db, `SELECT count(*) FROM moments WHERE kind = 'automation_action'`); n != 2 {
		t.Errorf("automation moments = %d, want 2", n)
	}
	resp, err := admin.Get(b + "/admin/automation")
	if err != nil {
		t.Fatal(err)
	}
	fired := regexp.MustCompile(`data-testid="rule-fired">(\d+)<`).FindAllStringSubmatch(readAll(resp), -1)
	if len(fired) != 2 || fired[0][1] != "1" || fired[1][1] != "1" {
		t.Errorf("fire counts on the rule page = %v, want 1 and 1", fired)
	}
}

func launchAutomationServer(t *testing.T, env map[string]string) string {
	t.Helper()
	s, err := launchServer(env, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s.URL
}

// followTags are the tags on one relation in the sandbox.
func followTags(sb *sharedSandbox, rel sandbox.Follow) []string {
	for _, f := range sb.relations() {
		if f.UserID == rel.UserID && f.ExternalUserID == rel.ExternalUserID {
			return f.TagIDs
		}
	}
	return nil
}
