package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Admins assign console roles on the employees page; the new manager's
// WeCom session then reaches the console and sees their departments.
func TestConsoleEmployeesAndRoles(t *testing.T) {
	env := newConsoleEnv(t)
	w := env.do(http.MethodGet, "/admin/employees", "admin", nil)
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Count(body, `data-testid="employee-row"`) != 4 || !strings.Contains(body, `data-testid="licence-caveat"`) {
		t.Fatalf("employees page: %d", w.Code)
	}
	if w := env.do(http.MethodPost, "/admin/employees/staffer/role", "admin", url.Values{"role": {"manager"}}); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("manager without departments: %d", w.Code)
	}
	if w := env.do(http.MethodPost, "/admin/employees/staffer/role", "admin", url.Values{"role": {"manager"}, "departments": {"3"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("grant: %d", w.Code)
	}
	if env.auditCount("role_changed") != 1 {
		t.Fatal("role change not audited")
	}
	w = env.do(http.MethodGet, "/admin/users", "staff", nil) // staffer's session, now a manager of department 3
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `href="`+userPath(env.u2, "")+`"`) ||
		strings.Contains(w.Body.String(), `href="`+userPath(env.u1, "")+`"`) {
		t.Fatalf("new manager's list: %d", w.Code)
	}
	if w := env.do(http.MethodPost, "/admin/employees/nobody/role", "admin", url.Values{"role": {"admin"}}); w.Code != http.StatusNotFound {
		t.Fatalf("unknown employee: %d", w.Code)
	}
}

func TestConsoleDashboard(t *testing.T) {
	env := newConsoleEnv(t)
	env.exec(`INSERT INTO wecom_inbox (corp_id, source, dedup_key, payload, state) VALUES ($1, 'wecom', 'd1', '\x00', 'dead')`, testCorp)
	w := env.do(http.MethodGet, "/admin", "manager", nil)
	body := w.Body.String()
	for _, id := range []string{"stat-users", "stat-merges", "stat-inbox", "stat-dead", "stat-sync", "chart-registrations", "chart-channels", "recent-activity"} {
		if !strings.Contains(body, `data-testid="`+id+`"`) {
			t.Errorf("dashboard lacks %s", id)
		}
	}
	if !strings.Contains(body, `ma-bar__label" title="poster"`) {
		t.Error("the channel chart lacks the poster channel")
	}
}

// The dashboard's figures are the database's: live users, the callback
// backlog with the age of its oldest event (flagged past five minutes), and
// the dead letters (flagged when any).
func TestConsoleDashboardFigures(t *testing.T) {
	env := newConsoleEnv(t)
	env.exec(`INSERT INTO wecom_inbox (corp_id, source, dedup_key, payload, state) VALUES ($1, 'wecom', 'd1', '\x00', 'dead')`, testCorp)
	env.exec(`INSERT INTO wecom_inbox (corp_id, source, dedup_key, payload, received_at) VALUES
        ($1, 'wecom', 'p1', '\x00', now() - interval '10 minutes'), ($1, 'wecom', 'p2', '\x00', now())`, testCorp)
	body := env.do(http.MethodGet, "/admin", "admin", nil).Body.String()
	card := func(id string) string {
		i := strings.Index(body, `data-testid="`+id+`"`)
		if i < 0 {
			t.Fatalf("no %s card", id)
		}
		j := strings.Index(body[i:], "</section>")
		return body[i : i+j]
	}
	for id, want := range map[string]string{"stat-users": ">3<", "stat-inbox": ">2<", "stat-dead": ">1<"} {
		if c := card(id); !strings.Contains(c, `ma-stat__value"`+want) {
			t.Errorf("%s: want value %s in %s", id, want, c)
		}
	}
	if c := card("stat-inbox"); !strings.Contains(c, "最久等待 10m") || !strings.Contains(c, "is-down") {
		t.Errorf("backlog lag not shown or not flagged: %s", c)
	}
	if c := card("stat-dead"); !strings.Contains(c, "is-down") {
		t.Errorf("dead letters not flagged: %s", c)
	}
}
