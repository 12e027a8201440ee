package services

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

var testCLI = Actor{Kind: "system", ID: "cli:tester"}

// apiKeyAudits returns the key's audit rows of action, oldest first, as
// "actor_kind:actor_id detail".
func apiKeyAudits(t *testing.T, db *sqlx.DB, action string, keyID int64) []string {
	t.Helper()
	var rows []string
	err := db.Select(&rows, `SELECT actor_kind || ':' || actor_id || ' ' || detail::text FROM audit_log
WHERE action = $1 AND target_kind = 'api_key' AND target_id = $2 ORDER BY id`, action, strconv.FormatInt(keyID, 10))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// Creating and revoking a key are audited with who did it, the key's name
// and scopes, and never its secret.
func TestAPIKeyCreateRevokeAudited(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	s := NewAPIKeyService(db)
	k, secret, err := s.CreateAPIKey(ctx, " crm ", []string{ScopeUsersRead}, testCLI)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, k.ID, testCLI); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, k.ID, testCLI); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("second revoke: %v", err)
	}
	if _, _, err := s.CreateAPIKey(ctx, "", nil, testCLI); ErrorCode(err) != EINVALID {
		t.Fatalf("invalid key: %v", err)
	}
	want := `system:cli:tester {"name": "crm", "scopes": ["users:read"]}`
	for _, action := range []string{"api_key_created", "api_key_revoked"} {
		if got := apiKeyAudits(t, db, action, k.ID); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want [%q]", action, got, want)
		}
	}
	var n int
	err = db.Get(&n, `SELECT count(*) FROM audit_log WHERE strpos(detail::text, $1) > 0 OR strpos(detail::text, $2) > 0`,
		secret, secret[len(apiKeyPrefix):len(apiKeyPrefix)+6])
	if err != nil || n != 0 {
		t.Fatalf("%d audit rows carry the key (%v)", n, err)
	}
}

// Use is audited once when the key is first used and then at most once an
// hour; refusals of a known key (revoked, scope missing) at most once an
// hour; unknown keys never.
func TestAPIKeyUseAuditedHourly(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	s := NewAPIKeyService(db)
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	k, secret, err := s.CreateAPIKey(ctx, "crm", []string{ScopeUsersRead}, testCLI)
	if err != nil {
		t.Fatal(err)
	}
	read := APIKeyUse{Scope: ScopeUsersRead, Route: "GET /api/v1/marketing-users/:id", IP: "10.0.0.1"}
	for _, step := range []time.Duration{0, 2 * time.Minute, 59 * time.Minute, 2 * time.Minute} {
		now = now.Add(step)
		if _, err := s.Authenticate(ctx, secret, read); err != nil {
			t.Fatal(err)
		}
	}
	want := `api_key:` + strconv.FormatInt(k.ID, 10) + ` {"name": "crm", "route": "GET /api/v1/marketing-users/:id", "scope": "users:read"}`
	if got := apiKeyAudits(t, db, "api_key_used", k.ID); len(got) != 2 || got[0] != want {
		t.Fatalf("used rows %q, want 2 like %q", got, want)
	}
	write := APIKeyUse{Scope: ScopeIdentitiesWrite, Route: "POST /api/v1/identities"}
	for range 3 {
		if _, err := s.Authenticate(ctx, secret, write); ErrorCode(err) != EFORBIDDEN {
			t.Fatalf("missing scope: %v", err)
		}
	}
	if err := s.RevokeAPIKey(ctx, k.ID, testCLI); err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Minute)
	for range 3 {
		if _, err := s.Authenticate(ctx, secret, read); ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("revoked key: %v", err)
		}
	}
	if _, err := s.Authenticate(ctx, secret[:len(secret)-1]+"x", read); ErrorCode(err) != EUNAUTHORIZED {
		t.Fatalf("unknown key: %v", err)
	}
	got := apiKeyAudits(t, db, "api_key_refused", k.ID)
	if len(got) != 2 || !strings.Contains(got[0], `"reason": "scope"`) || !strings.Contains(got[1], `"reason": "revoked"`) {
		t.Fatalf("refused rows %q", got)
	}
	var total int
	if err := db.Get(&total, `SELECT count(*) FROM audit_log`); err != nil || total != 6 {
		t.Fatalf("%d audit rows in all, want 6 (create, 2 used, 2 refused, revoke): %v", total, err)
	}
}

// Requests on several instances at once write one use row: the UPDATE that
// finds the audit due decides it under the key's row lock.
func TestAPIKeyUseAuditedOnceConcurrently(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	k, secret, err := NewAPIKeyService(db).CreateAPIKey(ctx, "crm", []string{ScopeUsersRead}, testCLI)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			// one service per instance, sharing the database
			if _, err := NewAPIKeyService(db).Authenticate(ctx, secret, APIKeyUse{Scope: ScopeUsersRead}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := apiKeyAudits(t, db, "api_key_used", k.ID); len(got) != 1 {
		t.Fatalf("%d use rows, want 1", len(got))
	}
}
