package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Bad input re-shows the editor with what was typed and why (in Chinese);
// a good rule is saved, audited, listed for managers too, switched off and
// deleted by the admin.
func TestAutomationRulePages(t *testing.T) {
	env := newConsoleEnv(t)
	bad := url.Values{"name": {""}, "kind": {"automation_action"}, "action": {"assign"}, "max": {"0"}, "channel": {"渠道"}}
	w := env.do(http.MethodPost, "/admin/automation", "admin", bad)
	page := w.Body.String()
	for _, want := range []string{"请填写规则名称", "请选择触发的动态类型", "请选择 1–100 名分配对象", "每人上限应在", "渠道代码只能包含"} {
		if !strings.Contains(page, want) {
			t.Errorf("422 page lacks %q", want)
		}
	}
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(page, `value="渠道"`) {
		t.Fatalf("bad rule: %d", w.Code)
	}
	good := url.Values{"name": {"注册提醒"}, "kind": {"form_submitted"}, "action": {"notify"}, "enabled": {"1"}}
	if w := env.do(http.MethodPost, "/admin/automation", "admin", good); w.Code != http.StatusSeeOther {
		t.Fatalf("good rule: %d %.300s", w.Code, w.Body.String())
	}
	if n := env.auditCount("automation_rule_created"); n != 1 {
		t.Errorf("audit rows = %d", n)
	}
	var id string
	if err := env.db.Get(&id, `SELECT id::text FROM automation_rules`); err != nil {
		t.Fatal(err)
	}
	env.exec(`INSERT INTO automation_executions (rule_id, moment_id, state, attempts, outcome, errcode)
VALUES ($1::bigint, 1, 'failed', 5, '企业微信返回错误 60020（message/send）', 60020)`, id)
	show := env.do(http.MethodGet, "/admin/automation/"+id, "manager", nil).Body.String()
	if !strings.Contains(show, `data-testid="rule-failed">1<`) || !strings.Contains(show, `data-testid="execution-errcode">60020<`) {
		t.Errorf("the rule page does not show the failure with its errcode")
	}
	list := env.do(http.MethodGet, "/admin/automation", "manager", nil).Body.String()
	if !strings.Contains(list, "注册提醒") || strings.Contains(list, `data-testid="rule-toggle"`) {
		t.Error("managers see the rule without the admin's buttons")
	}
	if w := env.do(http.MethodPost, "/admin/automation/"+id+"/enable", "admin", url.Values{"on": {"0"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d", w.Code)
	}
	if !strings.Contains(env.do(http.MethodGet, "/admin/automation", "admin", nil).Body.String(), "停用") {
		t.Error("the rule is not shown disabled")
	}
	if w := env.do(http.MethodPost, "/admin/automation/"+id+"/delete", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("delete: %d", w.Code)
	}
	if n := env.auditCount("automation_rule_deleted"); n != 1 {
		t.Errorf("delete audit rows = %d", n)
	}
}
