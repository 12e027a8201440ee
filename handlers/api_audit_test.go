package handlers

import (
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

// The API records a key's use with the route pattern (never the URL, whose
// query may carry a phone number) and the caller's IP, once per hour, and a
// refusal for a missing scope once per hour too.
func TestAPIKeyUseAudited(t *testing.T) {
	env := newAPIEnv(t)
	reader := env.key(services.ScopeUsersRead)
	for range 3 {
		env.do("GET", "/api/v1/marketing-users?phone=13912345678", reader, "")
		env.do("POST", "/api/v1/identities", reader, `{"records":[]}`)
	}
	var rows []struct {
		Action string `db:"action"`
		Detail string `db:"detail"`
		IP     string `db:"ip"`
	}
	if err := env.db.Select(&rows, `SELECT action, detail::text AS detail, ip FROM audit_log
WHERE actor_kind = 'api_key' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Action != "api_key_used" || rows[1].Action != "api_key_refused" {
		t.Fatalf("audit rows %+v, want one use and one refusal", rows)
	}
	if !strings.Contains(rows[0].Detail, `"route": "GET /api/v1/marketing-users"`) || rows[0].IP == "" {
		t.Errorf("use row %+v", rows[0])
	}
	if !strings.Contains(rows[1].Detail, `"scope": "identities:write"`) || !strings.Contains(rows[1].Detail, `"reason": "scope"`) {
		t.Errorf("refusal row %+v", rows[1])
	}
	for _, r := range rows {
		if strings.Contains(r.Detail, "139") || strings.Contains(r.Detail, reader[len("mak_"):len("mak_")+6]) {
			t.Errorf("row carries the phone or the key: %+v", r)
		}
	}
}
