package services

import (
	"context"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyPassword(h, "correct horse battery") || VerifyPassword(h, "correct horse batterx") {
		t.Fatal("verify")
	}
	if VerifyPassword("$argon2id$garbage", "x") || VerifyPassword("", "") {
		t.Fatal("malformed hash verified")
	}
}

func TestAdminSignInAndLockout(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	audit := NewAuditService(db)
	s := NewAdminService(db, audit)
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	if _, err := s.CreateAdmin(ctx, "ops", "short", RoleAdmin); ErrorCode(err) != EINVALID || ErrorFields(err)["password"] == "" {
		t.Fatalf("short password: %v", err)
	}
	a, err := s.CreateAdmin(ctx, "ops", "a long enough password", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAdmin(ctx, "OPS", "a long enough password", RoleAdmin); ErrorCode(err) != ECONFLICT {
		t.Fatalf("duplicate name (case-insensitive): %v", err)
	}
	if got, err := s.SignIn(ctx, "Ops", "a long enough password", "127.0.0.1"); err != nil || got.ID != a.ID {
		t.Fatalf("sign in: %+v %v", got, err)
	}
	_, errUnknown := s.SignIn(ctx, "nobody", "whatever password", "127.0.0.1")
	_, errWrong := s.SignIn(ctx, "ops", "wrong password!!", "127.0.0.1")
	if ErrorCode(errUnknown) != EUNAUTHORIZED || ErrorMessage(errUnknown) != ErrorMessage(errWrong) {
		t.Fatalf("unknown name and wrong password must look alike: %v / %v", errUnknown, errWrong)
	}
	for i := 0; i < maxFailedSignIns-1; i++ {
		if _, err := s.SignIn(ctx, "ops", "wrong password!!", "127.0.0.1"); ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := s.SignIn(ctx, "ops", "a long enough password", "127.0.0.1"); ErrorCode(err) != ERATELIMIT {
		t.Fatalf("locked account accepted the right password: %v", err)
	}
	now = now.Add(lockDuration + time.Second)
	if _, err := s.SignIn(ctx, "ops", "a long enough password", "127.0.0.1"); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
	entries, err := audit.List(ctx, AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		count[e.Action]++
	}
	if count["sign_in"] != 2 || count["account_locked"] != 1 || count["sign_in_failed"] < 5 || count["admin_created"] != 1 {
		t.Fatalf("audit %v", count)
	}
	if err := s.ResetPassword(ctx, "ops", "another long password"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetPassword(ctx, "ghost", "another long password"); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("reset unknown: %v", err)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	audit := NewAuditService(db)
	if err := audit.Record(ctx, AuditEntry{ActorKind: "system", ActorID: "t", Action: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_log SET action = 'y'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s succeeded on the audit log", q)
		}
	}
}
