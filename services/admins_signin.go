package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"
)

// SignIn checks a local account's password. Returns EUNAUTHORIZED for a wrong
// name or password (the same message for both) and ERATELIMIT while the
// account is locked after repeated failures. Every attempt is audited.
func (s *AdminService) SignIn(ctx context.Context, name, password, ip string) (AdminAccount, error) {
	var result AdminAccount
	var outcome error
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		a, err := lockAccountByName(ctx, tx, name)
		if errors.Is(err, sql.ErrNoRows) {
			VerifyPassword(s.dummyHash, password)
			outcome = errWrongCredentials
			return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: "local", ActorID: "", Action: "sign_in_failed",
				Detail: map[string]any{"reason": "unknown_name"}, IP: ip})
		}
		if err != nil {
			return err
		}
		r, err := s.checkPassword(ctx, tx, a, password, ip)
		result, outcome = r.account, r.outcome
		return err
	})
	if err != nil {
		return AdminAccount{}, fmt.Errorf("admins: sign in: %w", err)
	}
	return result, outcome
}

var errWrongCredentials = Errorf(EUNAUTHORIZED, "用户名或密码错误")

func lockAccountByName(ctx context.Context, tx *sqlx.Tx, name string) (AdminAccount, error) {
	var row struct {
		AdminAccount
		Hash        string     `db:"password_hash"`
		Failed      int        `db:"failed_attempts"`
		LockedUntil *time.Time `db:"locked_until"`
	}
	err := tx.GetContext(ctx, &row, `
		SELECT id, name, role, created_at, last_login_at, password_hash, failed_attempts, locked_until
		FROM admin_accounts WHERE lower(name) = lower($1) FOR UPDATE`, name)
	a := row.AdminAccount
	a.hash, a.failed, a.lockedUntil = row.Hash, row.Failed, row.LockedUntil
	return a, err
}

// signInResult is the outcome of one attempt: the account when it succeeded,
// else the error to show.
type signInResult struct {
	account AdminAccount
	outcome error
}

// checkPassword applies the lockout rule to one attempt on a locked row. The
// error it returns is a database failure; a refused attempt is in the result.
func (s *AdminService) checkPassword(ctx context.Context, tx *sqlx.Tx, a AdminAccount, password, ip string) (signInResult, error) {
	now := s.now()
	entry := AuditEntry{ActorKind: "local", ActorID: fmt.Sprint(a.ID), TargetKind: "admin_account", TargetID: fmt.Sprint(a.ID), IP: ip}
	if a.lockedUntil != nil && now.Before(*a.lockedUntil) {
		entry.Action, entry.Detail = "sign_in_failed", map[string]any{"reason": "locked"}
		minutes := int(math.Ceil(a.lockedUntil.Sub(now).Minutes()))
		locked := Errorf(ERATELIMIT, "登录失败次数过多，账号已临时锁定，请 %d 分钟后再试", minutes)
		return signInResult{outcome: locked}, s.audit.recordTx(ctx, tx, entry)
	}
	if !VerifyPassword(a.hash, password) {
		failed := a.failed + 1
		var lockedUntil *time.Time
		entry.Action, entry.Detail = "sign_in_failed", map[string]any{"reason": "wrong_password", "failed_attempts": failed}
		if failed >= maxFailedSignIns {
			t := now.Add(lockDuration)
			lockedUntil, failed = &t, 0
			entry.Action = "account_locked"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE admin_accounts SET failed_attempts = $2, locked_until = $3 WHERE id = $1`,
			a.ID, failed, lockedUntil); err != nil {
			return signInResult{}, err
		}
		return signInResult{outcome: errWrongCredentials}, s.audit.recordTx(ctx, tx, entry)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE admin_accounts SET failed_attempts = 0, locked_until = NULL, last_login_at = $2 WHERE id = $1`,
		a.ID, now); err != nil {
		return signInResult{}, err
	}
	entry.Action = "sign_in"
	return signInResult{account: a}, s.audit.recordTx(ctx, tx, entry)
}
