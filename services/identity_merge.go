package services

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// MergePreview says what a manual merge of two users would do.
type MergePreview struct {
	Survivor, Absorbed int64
	Identities, Phones int
	// Violations are the rules the merge would break (unionid, max_phones,
	// max_identities); a merge with violations is refused.
	Violations []string
}

// MergeResult is what a manual merge did.
type MergeResult struct {
	Survivor, Absorbed int64
	LogID              int64
}

type userStats struct {
	ID        int64     `db:"id"`
	N         int       `db:"n_identities"`
	Phones    int       `db:"n_phones"`
	Unionids  int       `db:"unionids"`
	CreatedAt time.Time `db:"created_at"`
}

// preview locks (when q is a transaction) and checks the two live users.
func preview(ctx context.Context, q sqlx.QueryerContext, a, b int64, lock bool) (MergePreview, error) {
	var p MergePreview
	query := `SELECT u.id, u.n_identities, u.n_phones, u.created_at,
       (SELECT count(*) FROM identities i WHERE i.user_id = u.id AND i.kind = 'unionid') AS unionids
FROM marketing_users u WHERE u.id IN (identity_resolve($1), identity_resolve($2)) ORDER BY u.id`
	if lock {
		query += ` FOR UPDATE OF u`
	}
	var us []userStats
	if err := sqlx.SelectContext(ctx, q, &us, query, a, b); err != nil {
		return p, fmt.Errorf("identities: preview: %w", err)
	}
	if len(us) == 1 {
		return p, Errorf(ECONFLICT, "两个营销用户已是同一人")
	}
	if len(us) != 2 {
		return p, Errorf(ENOTFOUND, "营销用户不存在")
	}
	var cfg struct {
		MaxPhones int `db:"max_phones"`
		MaxIdent  int `db:"max_identities"`
	}
	if err := sqlx.GetContext(ctx, q, &cfg, `SELECT max_phones, max_identities FROM identity_settings`); err != nil {
		return p, fmt.Errorf("identities: settings: %w", err)
	}
	s, l := us[0], us[1] // union by size; ties: the older
	if l.N > s.N || (l.N == s.N && l.CreatedAt.Before(s.CreatedAt)) {
		s, l = l, s
	}
	p = MergePreview{Survivor: s.ID, Absorbed: l.ID, Identities: s.N + l.N, Phones: s.Phones + l.Phones}
	if s.Unionids+l.Unionids > 1 {
		p.Violations = append(p.Violations, "unionid")
	}
	if p.Phones > cfg.MaxPhones {
		p.Violations = append(p.Violations, "max_phones")
	}
	if p.Identities > cfg.MaxIdent {
		p.Violations = append(p.Violations, "max_identities")
	}
	return p, nil
}

// PreviewMerge says who would survive a manual merge of a and b and which
// rules it would break. Errors: ENOTFOUND, ECONFLICT (already one user).
func (s *IdentityService) PreviewMerge(ctx context.Context, a, b int64) (MergePreview, error) {
	return preview(ctx, s.db, a, b, false)
}

// Merge merges two users by hand (split guards do not apply: a person
// decided). The larger survives (ties: the older); the log records the actor.
// Errors: ENOTFOUND, ECONFLICT (same user, or a rule would break).
func (s *IdentityService) Merge(ctx context.Context, a, b int64, reason, actor string) (MergeResult, error) {
	var r MergeResult
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		p, err := preview(ctx, tx, a, b, true)
		if err != nil {
			return err
		}
		if len(p.Violations) > 0 {
			return Errorf(ECONFLICT, "合并会违反规则：%s", strings.Join(p.Violations, ", "))
		}
		r = MergeResult{Survivor: p.Survivor, Absorbed: p.Absorbed}
		return tx.GetContext(ctx, &r.LogID, `SELECT identity_merge_users($1, $2,
    (SELECT min(id) FROM identities WHERE user_id = $1), (SELECT min(id) FROM identities WHERE user_id = $2),
    'manual', $3, 'manual', '', false, $4, $5)`, p.Absorbed, p.Survivor, reason, actor, s.now())
	})
	if err != nil {
		return MergeResult{}, wrapErr("identities: merge", err)
	}
	return r, nil
}

// SplitResult is what a split did.
type SplitResult struct {
	UserID    int64 // the user that kept the other identities
	NewUserID int64 // the user that received the chosen identities
	Moved     int
	LogID     int64
}

// Split moves the chosen identities (and so the moments observed on them)
// into a new user, logs it, and guards the pair: automatic linking never
// merges them again on the same evidence. Errors: EINVALID, ENOTFOUND.
func (s *IdentityService) Split(ctx context.Context, userID int64, identityIDs []int64, reason, actor string) (SplitResult, error) {
	if len(identityIDs) == 0 {
		return SplitResult{}, Invalid("请选择要拆出的标识", map[string]string{"identities": "至少选择一个"})
	}
	var r SplitResult
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var n int
		err := tx.QueryRowxContext(ctx, `SELECT id, n_identities FROM marketing_users WHERE id = identity_resolve($1) FOR UPDATE`,
			userID).Scan(&r.UserID, &n)
		if err != nil {
			return notFound(err, "营销用户")
		}
		ids := pq.Array(identityIDs)
		var owned int
		if err := tx.GetContext(ctx, &owned, `SELECT count(*) FROM identities WHERE id = ANY ($1) AND user_id = $2`,
			ids, r.UserID); err != nil {
			return err
		}
		if owned != len(identityIDs) || owned >= n {
			return Invalid("只能拆出该用户的部分标识", map[string]string{"identities": "标识不属于该用户，或选择了全部标识"})
		}
		r.Moved = owned
		return tx.QueryRowxContext(ctx, splitQuery, r.UserID, ids, reason, actor, s.now()).Scan(&r.NewUserID, &r.LogID)
	})
	if err != nil {
		return SplitResult{}, wrapErr("identities: split", err)
	}
	return r, nil
}

// splitQuery moves the identities, re-links each side as a star around its
// oldest identity (so the audit sees each side connected and the sides
// apart), severs merge edges across, recounts, logs, guards and records an
// identity_split moment, in one statement.
const splitQuery = `WITH nu AS (
    INSERT INTO marketing_users (n_identities, n_phones)
    SELECT count(*), count(*) FILTER (WHERE kind = 'phone') FROM identities WHERE id = ANY ($2)
    RETURNING id, n_identities, n_phones
), mv AS (
    UPDATE identities i SET user_id = nu.id, linked_to = nullif((SELECT min(x) FROM unnest($2::bigint[]) x), i.id)
    FROM nu WHERE i.id = ANY ($2) AND i.user_id = $1
    RETURNING i.id
), kept AS (
    SELECT id FROM identities WHERE user_id = $1 AND id <> ALL ($2)
), relink AS (
    UPDATE identities i SET linked_to = nullif((SELECT min(id) FROM kept), i.id)
    WHERE i.id IN (SELECT id FROM kept)
), lg AS (
    INSERT INTO identity_merge_log (kind, from_user, into_user, moved, reason, actor, occurred_at, ev_source)
    SELECT 'split', $1, nu.id, nu.n_identities, $3, $4, $5, 'manual' FROM nu
    RETURNING id, into_user
), guards AS (
    INSERT INTO identity_split_members (split_id, identity_id, side)
    SELECT lg.id, x, 1 FROM lg, unnest($2::bigint[]) x
    UNION ALL SELECT lg.id, kept.id, 0 FROM lg, kept
), sever AS (
    UPDATE identity_merge_log l SET severed = true
    WHERE l.kind = 'merge' AND NOT l.severed
      AND ((l.via_from = ANY ($2) AND l.via_into IN (SELECT id FROM kept))
        OR (l.via_into = ANY ($2) AND l.via_from IN (SELECT id FROM kept)))
), cnt_old AS (
    UPDATE marketing_users u SET n_identities = u.n_identities - nu.n_identities,
        n_phones = u.n_phones - nu.n_phones, updated_at = now()
    FROM nu WHERE u.id = $1
), mark AS (
    INSERT INTO moments (identity_id, kind, occurred_at, channel, detail, dedup_key)
    SELECT (SELECT min(x) FROM unnest($2::bigint[]) x), 'identity_split', $5, 'manual',
           jsonb_build_object('merge_log_id', lg.id, 'from_user', $1, 'into_user', lg.into_user, 'reason', $3),
           'identity_split:' || lg.id
    FROM lg
)
SELECT lg.into_user, lg.id FROM lg`

// Conflict is a refused merge waiting for review.
type Conflict struct {
	ID         int64      `db:"id"`
	UserA      int64      `db:"user_a"`
	UserB      int64      `db:"user_b"`
	Reason     string     `db:"reason"` // unionid, max_phones, max_identities, unverified_phone, split, new_*
	ViaKind    string     `db:"via_kind"`
	Source     string     `db:"ev_source"`
	Ref        string     `db:"ev_ref"`
	Verified   bool       `db:"ev_verified"`
	Status     string     `db:"status"` // open, merged, dismissed
	Seen       int        `db:"seen"`
	ResolvedBy string     `db:"resolved_by"`
	ResolvedAt *time.Time `db:"resolved_at"`
	OccurredAt time.Time  `db:"occurred_at"`
}

// ConflictFilter selects conflicts; zero values select everything.
type ConflictFilter struct {
	Status string // open, merged, dismissed
	UserID int64  // conflicts involving this user (absorbed ids resolve)
	Limit  int    // default 100
}

// Conflicts lists conflicts, newest first.
func (s *IdentityService) Conflicts(ctx context.Context, f ConflictFilter) ([]Conflict, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	var cs []Conflict
	err := s.db.SelectContext(ctx, &cs, `SELECT id, user_a, user_b, reason, via_kind, ev_source, ev_ref, ev_verified,
       status, seen, resolved_by, resolved_at, occurred_at
FROM identity_conflicts
WHERE ($1 = '' OR status = $1)
  AND ($2 = 0 OR identity_resolve(user_a) = identity_resolve($2) OR identity_resolve(user_b) = identity_resolve($2))
ORDER BY id DESC LIMIT $3`, f.Status, f.UserID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("identities: conflicts: %w", err)
	}
	return cs, nil
}

// Conflict resolutions.
const (
	ResolveMerge   = "merge"   // merge the two users (rules still apply)
	ResolveDismiss = "dismiss" // keep them apart
)

// ResolveConflict merges the conflict's users or dismisses it.
// Errors: EINVALID, ENOTFOUND, ECONFLICT (already resolved, or the merge breaks a rule).
func (s *IdentityService) ResolveConflict(ctx context.Context, id int64, resolution, actor string) error {
	if resolution != ResolveMerge && resolution != ResolveDismiss {
		return Invalid("未知的处理方式", map[string]string{"resolution": "merge 或 dismiss"})
	}
	var c Conflict
	if err := s.db.GetContext(ctx, &c, `SELECT id, user_a, user_b, status FROM identity_conflicts WHERE id = $1`, id); err != nil {
		return notFound(err, "冲突")
	}
	if c.Status != "open" {
		return Errorf(ECONFLICT, "冲突已处理")
	}
	status := "dismissed"
	if resolution == ResolveMerge {
		if _, err := s.Merge(ctx, c.UserA, c.UserB, fmt.Sprintf("conflict %d", id), actor); err != nil {
			return err
		}
		status = "merged"
	}
	res, err := s.db.ExecContext(ctx, `UPDATE identity_conflicts SET status = $2, resolved_by = $3, resolved_at = $4
WHERE id = $1 AND status = 'open'`, id, status, actor, s.now())
	if err != nil {
		return fmt.Errorf("identities: resolve conflict: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ECONFLICT, "冲突已处理")
	}
	return nil
}

// MergeLogEntry is one merge or split.
type MergeLogEntry struct {
	ID         int64     `db:"id"`
	Kind       string    `db:"kind"` // merge or split
	FromUser   int64     `db:"from_user"`
	IntoUser   int64     `db:"into_user"`
	Moved      int       `db:"moved"`
	ViaKind    string    `db:"via_kind"`
	Reason     string    `db:"reason"`
	Source     string    `db:"ev_source"`
	Ref        string    `db:"ev_ref"`
	Verified   bool      `db:"ev_verified"`
	Actor      string    `db:"actor"`
	Severed    bool      `db:"severed"`
	OccurredAt time.Time `db:"occurred_at"`
}

// MergeLog returns the merges and splits that shaped the user (its own and
// those of the users it absorbed), oldest first. Errors: ENOTFOUND.
func (s *IdentityService) MergeLog(ctx context.Context, userID int64) ([]MergeLogEntry, error) {
	uid, err := s.resolve(ctx, userID)
	if err != nil {
		return nil, err
	}
	var es []MergeLogEntry
	err = s.db.SelectContext(ctx, &es, `WITH lineage AS (
    SELECT $1::bigint AS id UNION SELECT id FROM marketing_users WHERE merged_into = $1)
SELECT id, kind, from_user, into_user, moved, via_kind, reason, ev_source, ev_ref, ev_verified, actor, severed, occurred_at
FROM identity_merge_log
WHERE into_user IN (SELECT id FROM lineage) OR from_user IN (SELECT id FROM lineage)
ORDER BY id`, uid)
	if err != nil {
		return nil, fmt.Errorf("identities: merge log: %w", err)
	}
	return es, nil
}

// wrapErr prefixes internal errors and passes *Error through unchanged.
func wrapErr(prefix string, err error) error {
	if ErrorCode(err) != EINTERNAL {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
