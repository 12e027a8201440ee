package handlers

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

var auditActionRE = regexp.MustCompile(`<span class="ma-badge">([^<]*)</span>`)

// auditActionsOn returns the actions listed on an audit page, in order.
func auditActionsOn(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, row := range strings.Split(body, `data-testid="audit-row"`)[1:] {
		m := auditActionRE.FindStringSubmatch(row)
		if m == nil {
			t.Fatalf("row without action: %s", row)
		}
		out = append(out, m[1])
	}
	return out
}

// seedAPIKeyAudit creates, uses, refuses and revokes a key through the
// service, as the CLI and the API do, and returns the key's id.
func (env *consoleEnv) seedAPIKeyAudit() string {
	ctx := context.Background()
	keys := services.NewAPIKeyService(env.db)
	cli := services.Actor{Kind: "system", ID: "cli:alice"}
	k, secret, err := keys.CreateAPIKey(ctx, "crm", []string{services.ScopeUsersRead}, cli)
	if err != nil {
		env.t.Fatal(err)
	}
	if _, err := keys.Authenticate(ctx, secret, services.APIKeyUse{Scope: services.ScopeUsersRead, Route: "GET /api/v1/marketing-users"}); err != nil {
		env.t.Fatal(err)
	}
	if _, err := keys.Authenticate(ctx, secret, services.APIKeyUse{Scope: services.ScopeIdentitiesWrite}); services.ErrorCode(err) != services.EFORBIDDEN {
		env.t.Fatalf("missing scope: %v", err)
	}
	if err := keys.RevokeAPIKey(ctx, k.ID, cli); err != nil {
		env.t.Fatal(err)
	}
	return strconv.FormatInt(k.ID, 10)
}

// The audit page filters by action, actor kind and actor, alone and
// together, newest first; the form keeps the filter and suggests the API
// key actions.
func TestAuditLogFilters(t *testing.T) {
	env := newConsoleEnv(t)
	keyID := env.seedAPIKeyAudit()
	audit := services.NewAuditService(env.db)
	for _, e := range []services.AuditEntry{
		{ActorKind: "wecom", ActorID: testCorp + "/mgr", Action: "phone_revealed", TargetKind: "marketing_user", TargetID: "1"},
		{ActorKind: "local", ActorID: "1", Action: "users_exported", Detail: map[string]any{"note": "<b>x</b>"}},
	} {
		if err := audit.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ query, want string }{
		{"action=api_key_used", "api_key_used"},
		{"action=+phone_revealed+", "phone_revealed"},
		{"actor_kind=api_key", "api_key_refused api_key_used"},
		{"actor_kind=api_key&actor=" + keyID, "api_key_refused api_key_used"},
		{"actor_kind=api_key&actor=999999", ""},
		{"actor_kind=system&actor=cli:alice", "api_key_revoked api_key_created"},
		{"action=api_key_created&actor_kind=wecom", ""},
		{"actor=" + testCorp + "/mgr", "phone_revealed"},
	}
	for _, c := range cases {
		w := env.do(http.MethodGet, "/admin/audit?"+c.query, "admin", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", c.query, w.Code)
		}
		if got := strings.Join(auditActionsOn(t, w.Body.String()), " "); got != c.want {
			t.Errorf("%s: actions %q, want %q", c.query, got, c.want)
		}
	}
	body := env.do(http.MethodGet, "/admin/audit?action=users_exported&actor_kind=local", "admin", nil).Body.String()
	for _, want := range []string{`name="action" value="users_exported"`, `value="local" selected`,
		`<option value="api_key_used">`, `&lt;b&gt;x&lt;/b&gt;`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<b>x</b>") {
		t.Error("detail not escaped")
	}
}

// The audit page pages by id with the filter kept, and only admins see it.
func TestAuditLogPagingAndAccess(t *testing.T) {
	env := newConsoleEnv(t)
	env.exec(`INSERT INTO audit_log (actor_kind, actor_id, action) SELECT 'system', 'test', 'bulk_test' FROM generate_series(1, $1)`,
		auditPageSize+5)
	env.exec(`INSERT INTO audit_log (actor_kind, actor_id, action) VALUES ('system', 'test', 'other_test')`)
	w := env.do(http.MethodGet, "/admin/audit?action=bulk_test", "admin", nil)
	first := auditActionsOn(t, w.Body.String())
	next := regexp.MustCompile(`href="(/admin/audit\?[^"]+)">更早`).FindStringSubmatch(w.Body.String())
	if len(first) != auditPageSize || next == nil || !strings.Contains(next[1], "action=bulk_test") {
		t.Fatalf("first page: %d rows, next %v", len(first), next)
	}
	w = env.do(http.MethodGet, html.UnescapeString(next[1]), "admin", nil)
	rest := auditActionsOn(t, w.Body.String())
	if len(rest) != 5 || slices.ContainsFunc(rest, func(a string) bool { return a != "bulk_test" }) || strings.Contains(w.Body.String(), "更早") {
		t.Fatalf("second page: %q", rest)
	}
	if w := env.do(http.MethodGet, "/admin/audit", "manager", nil); w.Code != http.StatusForbidden {
		t.Errorf("manager: status %d", w.Code)
	}
	if w := env.do(http.MethodGet, "/admin/audit", "", nil); w.Code != http.StatusSeeOther {
		t.Errorf("no session: status %d", w.Code)
	}
}
