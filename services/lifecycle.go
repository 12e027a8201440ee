package services

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/pii"
)

// LifecycleService keeps personal data no longer than needed (seed 002):
// inactive marketing users leave the active lists, and a person can be
// erased on request.
type LifecycleService struct {
	db    *sqlx.DB
	pii   *pii.Box
	audit *AuditService
	now   func() time.Time
}

// NewLifecycleService returns the service.
func NewLifecycleService(db *sqlx.DB, box *pii.Box, audit *AuditService) *LifecycleService {
	return &LifecycleService{db: db, pii: box, audit: audit, now: time.Now}
}

// DefaultInactiveDays is how long without activity archives a user.
const DefaultInactiveDays = 180

// ArchiveResult is what an archive run did.
type ArchiveResult struct {
	Archived, Restored int
}

// ArchiveInactive archives live users with no moment and no identity seen
// for days (default 180), and first restores archived users active within
// that window again (a user is archived exactly while the rule holds). Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *LifecycleService) ArchiveInactive(ctx context.Context, v Operator, days int) (ArchiveResult, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return ArchiveResult{}, err
	}
	if days == 0 {
		days = DefaultInactiveDays
	}
	if days < 30 || days > 3650 {
		return ArchiveResult{}, Invalid("请检查天数", map[string]string{"days": "天数需在 30–3650 之间"})
	}
	var r ArchiveResult
	since := s.now().AddDate(0, 0, -days)
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM marketing_user_archive a WHERE EXISTS (
    SELECT 1 FROM identities i WHERE i.user_id = a.user_id AND (i.last_seen >= $1 OR EXISTS (
        SELECT 1 FROM moments m WHERE m.identity_id = i.id AND m.occurred_at >= $1)))`, since)
		if err != nil {
			return fmt.Errorf("lifecycle: restore: %w", err)
		}
		r.Restored = rowsAffected(res)
		res, err = tx.ExecContext(ctx, `INSERT INTO marketing_user_archive (user_id, inactive_days, archived_by, archived_at)
SELECT u.id, $1, $2, $4 FROM marketing_users u
WHERE u.merged_into IS NULL AND u.n_identities > 0
  AND NOT EXISTS (SELECT 1 FROM marketing_user_archive a WHERE a.user_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM data_erasures e WHERE e.user_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND (i.last_seen >= $3 OR EXISTS (
        SELECT 1 FROM moments m WHERE m.identity_id = i.id AND m.occurred_at >= $3)))`, days, v.Actor(), since, s.now())
		if err != nil {
			return fmt.Errorf("lifecycle: archive: %w", err)
		}
		r.Archived = rowsAffected(res)
		return s.audit.recordTx(ctx, tx, v.audit("users_archived", "marketing_users", "",
			map[string]any{"days": days, "archived": r.Archived, "restored": r.Restored}))
	})
	return r, err
}

type rowser interface{ RowsAffected() (int64, error) }

func rowsAffected(r rowser) int {
	n, _ := r.RowsAffected()
	return int(n)
}

// Erasure is the fact of an erasure: who, when, why, and anonymous counts.
type Erasure struct {
	ID           int64           `db:"id"`
	UserID       int64           `db:"user_id"`
	RequestedBy  string          `db:"requested_by"`
	Reason       string          `db:"reason"`
	Identities   int             `db:"identities"`
	MomentCounts json.RawMessage `db:"moment_counts"`
	ErasedAt     time.Time       `db:"erased_at"`
}

// Erasures lists the latest erasures. Admins only.
func (s *LifecycleService) Erasures(ctx context.Context, v Operator) ([]Erasure, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return nil, err
	}
	var es []Erasure
	err := s.db.SelectContext(ctx, &es, `SELECT id, user_id, requested_by, reason, identities, moment_counts, erased_at
FROM data_erasures ORDER BY id DESC LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: erasures: %w", err)
	}
	return es, nil
}

// ArchivedCount is how many users are archived now.
func (s *LifecycleService) ArchivedCount(ctx context.Context) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM marketing_user_archive`); err != nil {
		return 0, fmt.Errorf("lifecycle: archived: %w", err)
	}
	return n, nil
}

// ErasePerson erases a marketing user's personal data on request.
//
// What goes: every identity's key, phone and attributes (the rows stay,
// anonymised as "erased:<id>", so records that point at them stay valid
// and the real keys are free: the person coming back starts afresh), the
// moments (counted by kind and channel first), growth, their form answers,
// phones and WeChat ids, and this app's copies of their WeCom customer
// profile and remarks. What stays: the marketing user id, merge log and
// audit rows (ids only), the consent each submission recorded (form,
// consent version and time) with the consent texts, and the data_erasures
// row. Admins only. Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (already erased).
func (s *LifecycleService) ErasePerson(ctx context.Context, v Operator, userID int64, reason string) (Erasure, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Erasure{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Erasure{}, Invalid("请填写删除依据", map[string]string{"reason": "请填写删除依据（如用户申请编号）"})
	}
	var e Erasure
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if e, err = s.erase(ctx, tx, v, userID, reason); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, v.audit("person_erased", "marketing_user", strconv.FormatInt(e.UserID, 10),
			map[string]any{"erasure_id": e.ID, "identities": e.Identities}))
	})
	return e, wrapErr("lifecycle: erase", err)
}

func (s *LifecycleService) erase(ctx context.Context, tx *sqlx.Tx, v Operator, userID int64, reason string) (Erasure, error) {
	var live int64
	if err := tx.GetContext(ctx, &live, `SELECT id FROM marketing_users WHERE id = identity_resolve($1) FOR UPDATE`, userID); err != nil {
		return Erasure{}, notFound(err, "营销用户")
	}
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `SELECT id FROM identities WHERE user_id = $1`, live); err != nil {
		return Erasure{}, fmt.Errorf("identities: %w", err)
	}
	var e Erasure
	err := tx.GetContext(ctx, &e, `INSERT INTO data_erasures (user_id, requested_by, reason, identities, moment_counts, erased_at)
SELECT $1, $2, $3, $4, coalesce((SELECT jsonb_object_agg(kind, channels) FROM (
    SELECT kind, jsonb_object_agg(channel, n) AS channels FROM (
        SELECT kind, coalesce(nullif(channel, ''), '-') AS channel, count(*) AS n
        FROM moments WHERE identity_id = ANY ($5) GROUP BY 1, 2) c GROUP BY kind) k), '{}'), $6
ON CONFLICT (user_id) DO NOTHING
RETURNING id, user_id, requested_by, reason, identities, moment_counts, erased_at`,
		live, v.Actor(), reason, len(ids), pq.Array(ids), s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return Erasure{}, Errorf(ECONFLICT, "该营销用户的数据已删除")
	}
	if err != nil {
		return Erasure{}, fmt.Errorf("record: %w", err)
	}
	return e, s.scrub(ctx, tx, live, ids)
}
