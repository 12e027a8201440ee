package services

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// AdjustGrowth adds points (negative to take away) to a member by hand, and
// records the level change if there is one. Admins only.
// Errors: EFORBIDDEN, ENOTFOUND, EINVALID (no member, zero or huge points).
func (s *MemberService) AdjustGrowth(ctx context.Context, v Operator, userID, points int64, reason string) (MemberStatus, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return MemberStatus{}, err
	}
	if points == 0 || points > 1e9 || points < -1e9 {
		return MemberStatus{}, Invalid("请检查成长值", map[string]string{"points": "请填写非零的成长值"})
	}
	var st MemberStatus
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var identity *int64
		err := tx.GetContext(ctx, &identity, `SELECT min(id) FROM identities WHERE user_id = identity_resolve($1) AND kind = 'member'`, userID)
		if err != nil {
			return fmt.Errorf("members: find member: %w", err)
		}
		if identity == nil {
			return Invalid("该营销用户不是会员", map[string]string{"points": "该营销用户没有会员身份（由 CRM 推送）"})
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO member_growth_ledger (identity_id, points, reason, actor, at) VALUES ($1, $2, $3, $4, $5)`,
			*identity, points, strings.TrimSpace(reason), v.Actor(), s.now())
		if err != nil {
			return fmt.Errorf("members: adjust: %w", err)
		}
		if st, err = s.settle(ctx, tx, userID); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, v.audit("growth_adjusted", "marketing_user", strconv.FormatInt(userID, 10),
			map[string]any{"points": points, "level": st.Level.Name}))
	})
	return st, wrapErr("members: adjust", err)
}

// settle compares the member's level with the one last announced and, when
// it changed, records member_level_changed on the member identity.
func (s *MemberService) settle(ctx context.Context, tx *sqlx.Tx, userID int64) (MemberStatus, error) {
	st, err := s.status(ctx, tx, userID)
	if err != nil || !st.IsMember {
		return st, err
	}
	var live int64
	if err := tx.GetContext(ctx, &live, `SELECT identity_resolve($1)`, userID); err != nil {
		return st, fmt.Errorf("members: resolve: %w", err)
	}
	var prev struct {
		LevelID *int64 `db:"level_id"`
		Name    string `db:"name"`
	}
	err = tx.GetContext(ctx, &prev, `INSERT INTO member_level_state (user_id) VALUES ($1) ON CONFLICT (user_id) DO UPDATE SET user_id = $1
RETURNING level_id, coalesce((SELECT name FROM member_levels WHERE id = member_level_state.level_id), '') AS name`, live)
	if err != nil {
		return st, fmt.Errorf("members: level state: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE member_level_state SET level_id = $2, points = $3, updated_at = $4 WHERE user_id = $1`,
		live, nullID(st.Level.ID), st.Points, s.now())
	if err != nil || (prev.LevelID != nil && *prev.LevelID == st.Level.ID) || (prev.LevelID == nil && st.Level.ID == 0) {
		return st, err
	}
	return st, s.levelChanged(ctx, tx, live, prev.Name, st)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// levelChanged records the member_level_changed moment.
func (s *MemberService) levelChanged(ctx context.Context, tx *sqlx.Tx, userID int64, from string, st MemberStatus) error {
	detail, _ := json.Marshal(map[string]any{"from": from, "to": st.Level.Name, "points": st.Points, "level_id": st.Level.ID})
	at := s.now()
	_, err := tx.ExecContext(ctx, `INSERT INTO moments (identity_id, kind, occurred_at, channel, title, detail, dedup_key)
SELECT min(id), 'member_level_changed', $2, 'member', $3, $4, $5
FROM identities WHERE user_id = $1 AND kind = 'member'
ON CONFLICT (dedup_key) DO NOTHING`, userID, at, "会员等级变为"+st.Level.Name, detail,
		fmt.Sprintf("member_level_changed:%d:%d", userID, at.UnixNano()))
	if err != nil {
		return fmt.Errorf("members: level moment: %w", err)
	}
	// The member identity carries the level as an attribute, which is what
	// the sidebar's identity chips show; a later CRM push may overwrite it.
	_, err = tx.ExecContext(ctx, `UPDATE identities SET attrs = attrs || jsonb_build_object('member_level', $2::text)
WHERE user_id = $1 AND kind = 'member'`, userID, st.Level.Name)
	if err != nil {
		return fmt.Errorf("members: level attribute: %w", err)
	}
	// The member's WeCom relations follow the level's corp tag
	// (members_tags.go); queued here so the change and the job commit together.
	return queueTagSync(ctx, tx, userID, nil)
}

// SettleGrowth runs ApplyGrowthRules for an admin and audits it.
// Errors: EFORBIDDEN.
func (s *MemberService) SettleGrowth(ctx context.Context, v Operator) (int, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return 0, err
	}
	n, err := s.ApplyGrowthRules(ctx)
	if err != nil {
		return 0, err
	}
	return n, s.audit.Record(ctx, v.audit("growth_settled", "", "", map[string]any{"members": n}))
}

// growthBatch bounds one settlement pass over new moments.
const growthBatch = 5000

// ApplyGrowthRules credits the moments recorded since the last pass to
// members by the growth rules, settles their levels and returns how many
// members earned points. Safe to run concurrently (the checkpoint row is
// locked) and again (a moment earns points once).
func (s *MemberService) ApplyGrowthRules(ctx context.Context) (int, error) {
	var credited int
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var from, to int64
		if err := tx.GetContext(ctx, &from, `SELECT last_moment_id FROM member_growth_checkpoint FOR UPDATE`); err != nil {
			return fmt.Errorf("members: checkpoint: %w", err)
		}
		if err := tx.GetContext(ctx, &to, `SELECT coalesce(max(id), $1) FROM (SELECT id FROM moments WHERE id > $1 ORDER BY id LIMIT $2) m`,
			from, growthBatch); err != nil {
			return fmt.Errorf("members: batch: %w", err)
		}
		var users []int64
		err := tx.SelectContext(ctx, &users, `WITH c AS (
    INSERT INTO member_growth_ledger (identity_id, points, reason, moment_id, at)
    SELECT m.identity_id, r.points, 'rule:' || m.kind, m.id, $3
    FROM moments m JOIN member_growth_rules r ON r.moment_kind = m.kind
    JOIN identities i ON i.id = m.identity_id
    WHERE m.id > $1 AND m.id <= $2
      AND EXISTS (SELECT 1 FROM identities x WHERE x.user_id = i.user_id AND x.kind = 'member')
    ON CONFLICT (moment_id) DO NOTHING
    RETURNING identity_id)
SELECT DISTINCT i.user_id FROM c JOIN identities i ON i.id = c.identity_id`, from, to, s.now())
		if err != nil {
			return fmt.Errorf("members: credit: %w", err)
		}
		credited = len(users)
		if _, err := tx.ExecContext(ctx, `UPDATE member_growth_checkpoint SET last_moment_id = $1`, to); err != nil {
			return fmt.Errorf("members: advance: %w", err)
		}
		for _, u := range users {
			if _, err := s.settle(ctx, tx, u); err != nil {
				return err
			}
		}
		return nil
	})
	return credited, err
}

// MemberRow is one member in the console's list.
type MemberRow struct {
	UserID int64  `db:"user_id"`
	Points int64  `db:"points"`
	Level  string `db:"level"`
}

// Members lists the members with the most growth. Admins and managers (who
// see only those in their scope).
func (s *MemberService) Members(ctx context.Context, v Operator) ([]MemberRow, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	sc, err := scopeOf(ctx, s.db, v)
	if err != nil {
		return nil, err
	}
	var out []MemberRow
	err = s.db.SelectContext(ctx, &out, `SELECT st.user_id, st.points, coalesce(l.name, '') AS level
FROM member_level_state st
JOIN marketing_users u ON u.id = st.user_id AND u.merged_into IS NULL
LEFT JOIN member_levels l ON l.id = st.level_id
WHERE `+visible(1)+`
ORDER BY st.points DESC, st.user_id LIMIT 100`, sc.all, pq.Array(sc.employees))
	if err != nil {
		return nil, fmt.Errorf("members: list: %w", err)
	}
	return out, nil
}
