package services

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// MemberService keeps member levels: levels are a name and a growth
// threshold, growth comes from rules per moment kind and from admins'
// adjustments, and a level change records a member_level_changed moment.
//
// A member is a marketing user with a member identity (pushed by the CRM
// API). Growth is kept per identity, so merges and splits carry it along.
type MemberService struct {
	db    *sqlx.DB
	audit *AuditService
	now   func() time.Time
}

// NewMemberService returns the service.
func NewMemberService(db *sqlx.DB, audit *AuditService) *MemberService {
	return &MemberService{db: db, audit: audit, now: time.Now}
}

// Level is a member level.
type Level struct {
	ID        int64  `db:"id"`
	Name      string `db:"name"`
	Threshold int64  `db:"threshold"`
	CorpTagID string `db:"corp_tag_id"`
	Members   int    `db:"members"`
}

// GrowthRule gives points for each moment of a kind.
type GrowthRule struct {
	MomentKind string `db:"moment_kind"`
	Points     int    `db:"points"`
}

// MemberStatus is a marketing user's membership, for the console and the
// sidebar. Level is empty when the user is no member.
type MemberStatus struct {
	IsMember bool
	Points   int64
	Level    Level
}

// Levels lists the levels, lowest first, with how many members hold each.
func (s *MemberService) Levels(ctx context.Context) ([]Level, error) {
	var ls []Level
	err := s.db.SelectContext(ctx, &ls, `SELECT l.id, l.name, l.threshold, l.corp_tag_id,
    (SELECT count(*) FROM member_level_state st JOIN marketing_users u ON u.id = st.user_id AND u.merged_into IS NULL
     WHERE st.level_id = l.id) AS members
FROM member_levels l ORDER BY l.threshold`)
	if err != nil {
		return nil, fmt.Errorf("members: levels: %w", err)
	}
	return ls, nil
}

// SaveLevel adds a level (or renames the one at the same threshold).
// Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *MemberService) SaveLevel(ctx context.Context, v Operator, name string, threshold int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	bad := map[string]string{}
	if n := utf8.RuneCountInString(name); n == 0 || n > 20 {
		bad["name"] = "请填写等级名称（不超过 20 字）"
	}
	if threshold < 0 || threshold > 1e12 {
		bad["threshold"] = "成长值门槛需为非负整数"
	}
	if len(bad) > 0 {
		return Invalid("请检查等级设置", bad)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO member_levels (name, threshold) VALUES ($1, $2)
ON CONFLICT (threshold) DO UPDATE SET name = $1`, name, threshold)
	if err != nil {
		return fmt.Errorf("members: save level: %w", err)
	}
	return s.audit.Record(ctx, v.audit("member_level_saved", "member_level", strconv.FormatInt(threshold, 10),
		map[string]any{"name": name}))
}

// DeleteLevel removes a level; the lowest (threshold 0) stays, so every
// member always has one. Admins only. Errors: EFORBIDDEN, ENOTFOUND, EINVALID.
func (s *MemberService) DeleteLevel(ctx context.Context, v Operator, id int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM member_levels WHERE id = $1 AND threshold > 0`, id)
	if err != nil {
		return fmt.Errorf("members: delete level: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "等级不存在，或是起始等级（门槛 0）")
	}
	return s.audit.Record(ctx, v.audit("member_level_deleted", "member_level", strconv.FormatInt(id, 10), nil))
}

// Rules lists the growth rules.
func (s *MemberService) Rules(ctx context.Context) ([]GrowthRule, error) {
	var rs []GrowthRule
	if err := s.db.SelectContext(ctx, &rs, `SELECT moment_kind, points FROM member_growth_rules ORDER BY moment_kind`); err != nil {
		return nil, fmt.Errorf("members: rules: %w", err)
	}
	return rs, nil
}

// SetRule sets the points a moment kind earns; 0 removes the rule. Rules
// apply to moments recorded after the last settlement, never retroactively
// to settled ones. Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *MemberService) SetRule(ctx context.Context, v Operator, kind MomentKind, points int) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	if !kind.Valid() || kind == "member_level_changed" || points < -100000 || points > 100000 {
		return Invalid("请检查成长规则", map[string]string{"kind": "请选择动态类型，分值在 ±100000 以内"})
	}
	q := `INSERT INTO member_growth_rules (moment_kind, points) VALUES ($1, $2)
ON CONFLICT (moment_kind) DO UPDATE SET points = $2, updated_at = now()`
	if points == 0 {
		q = `DELETE FROM member_growth_rules WHERE moment_kind = $1 AND $2 = 0`
	}
	if _, err := s.db.ExecContext(ctx, q, string(kind), points); err != nil {
		return fmt.Errorf("members: set rule: %w", err)
	}
	return s.audit.Record(ctx, v.audit("growth_rule_set", "moment_kind", string(kind), map[string]any{"points": points}))
}

// MemberLevelOf is the lookup the sidebar shows: the member's growth and
// level (absorbed ids resolve to their survivor). Not a member: IsMember
// false. Errors: ENOTFOUND.
func (s *MemberService) MemberLevelOf(ctx context.Context, userID int64) (MemberStatus, error) {
	return s.status(ctx, s.db, userID)
}

func (s *MemberService) status(ctx context.Context, q sqlx.QueryerContext, userID int64) (MemberStatus, error) {
	var row struct {
		IsMember bool   `db:"is_member"`
		Points   int64  `db:"points"`
		LevelID  *int64 `db:"level_id"`
		Name     string `db:"name"`
		Thresh   int64  `db:"threshold"`
	}
	err := sqlx.GetContext(ctx, q, &row, `WITH u AS (SELECT identity_resolve($1) AS id),
p AS (SELECT coalesce(sum(g.points), 0) AS points FROM member_growth_ledger g
      JOIN identities i ON i.id = g.identity_id WHERE i.user_id = (SELECT id FROM u))
SELECT EXISTS (SELECT 1 FROM identities WHERE user_id = (SELECT id FROM u) AND kind = 'member') AS is_member,
    p.points, l.id AS level_id, coalesce(l.name, '') AS name, coalesce(l.threshold, 0) AS threshold
FROM u CROSS JOIN p
LEFT JOIN LATERAL (SELECT id, name, threshold FROM member_levels WHERE threshold <= p.points
                   ORDER BY threshold DESC LIMIT 1) l ON true
WHERE u.id IS NOT NULL`, userID)
	if err != nil {
		return MemberStatus{}, notFound(err, "营销用户")
	}
	st := MemberStatus{IsMember: row.IsMember, Points: row.Points}
	if row.IsMember && row.LevelID != nil {
		st.Level = Level{ID: *row.LevelID, Name: row.Name, Threshold: row.Thresh}
	}
	return st, nil
}
