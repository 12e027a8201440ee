package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

var resetRE = regexp.MustCompile(`^account "ops" saved\.\npassword \(shown once, store it now\): (\S+)\n$`)

// admin reset-password prints a new password once, stores only its hash,
// lifts a lock, makes the old password fail and the new one work, and is
// audited.
func TestAdminResetPasswordCommand(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	old := createAdmin(t, dsn, "ops")
	if _, err := db.Exec(`UPDATE admin_accounts SET failed_attempts = 5, locked_until = now() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	out := mustRunTool(t, dsn, "admin", "reset-password", "--name", "ops")
	m := resetRE.FindStringSubmatch(out)
	if m == nil || m[1] == old {
		t.Fatalf("reset printed %q", out)
	}
	var row string
	if err := db.Get(&row, `SELECT a::text FROM admin_accounts a`); err != nil || strings.Contains(row, m[1]) || !strings.Contains(row, "$argon2id$") {
		t.Fatalf("stored %q (%v): want an argon2id hash, not the password", row, err)
	}
	admins := services.NewAdminService(db, services.NewAuditService(db))
	if _, err := admins.SignIn(t.Context(), "ops", old, "127.0.0.1"); services.ErrorCode(err) != services.EUNAUTHORIZED {
		t.Fatalf("old password: %v", err)
	}
	if a, err := admins.SignIn(t.Context(), "ops", m[1], "127.0.0.1"); err != nil || a.Name != "ops" {
		t.Fatalf("new password: %+v %v", a, err)
	}
	got := auditRows(t, db, "admin_created", "admin_password_reset")
	if len(got) != 2 || !strings.HasPrefix(got[1], "system:cli admin_password_reset admin_account:") {
		t.Fatalf("audit rows %q", got)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM audit_log a WHERE strpos(a::text, $1) > 0 OR strpos(a::text, $2) > 0`, old, m[1]); err != nil || n != 0 {
		t.Fatalf("%d audit rows carry a password (%v)", n, err)
	}
}

// admin reset-password refuses an unknown account and a missing name, and
// list shows the accounts.
func TestAdminCommandErrorsAndList(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	createAdmin(t, dsn, "ops")
	if _, err := runTool(t, dsn, "admin", "reset-password", "--name", "nobody"); err == nil || !strings.Contains(err.Error(), "账号不存在") {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := runTool(t, dsn, "admin", "reset-password"); !errors.Is(err, errUsage) {
		t.Errorf("no name: %v", err)
	}
	if _, err := runTool(t, dsn, "admin", "rename", "--name", "ops"); !errors.Is(err, errUsage) {
		t.Errorf("unknown verb: %v", err)
	}
	if out := mustRunTool(t, dsn, "admin", "list"); !regexp.MustCompile(`^ops +admin +created \d{4}-\d\d-\d\d\n$`).MatchString(out) {
		t.Errorf("list printed %q", out)
	}
}
