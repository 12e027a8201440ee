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
