package services

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Form registration modes of a segment filter.
const (
	FormRegistered    = "registered"
	FormNotRegistered = "not_registered"
)

// SegmentFilter selects marketing users. Every condition that is set must
// hold (AND); inside a list any element matches (OR). The zero filter is
// every live marketing user. It is stored as JSON in segments.filter.
type SegmentFilter struct {
	// TagIDs: a live WeCom relation of the user carries one of these corp tags.
	TagIDs []string `json:"tag_ids,omitempty"`
	// ExcludeTagIDs: no live relation carries any of these.
	ExcludeTagIDs []string `json:"exclude_tag_ids,omitempty"`
	// Channels: added through one of these channel QR codes (relation
	// state) or has a moment from one of these channels.
	Channels []string `json:"channels,omitempty"`
	// HasKinds / LacksKinds: identity kinds present / absent, e.g.
	// oa_openid, wecom_external_userid, phone.
	HasKinds   []string `json:"has_kinds,omitempty"`
	LacksKinds []string `json:"lacks_kinds,omitempty"`
	// LevelIDs: the member level last computed for the user.
	LevelIDs []int64 `json:"level_ids,omitempty"`
	// FormID with FormMode registered / not_registered: has (not) submitted form FormID.
	FormID   int64  `json:"form_id,omitempty"`
	FormMode string `json:"form_mode,omitempty"`
	// ActiveWithinDays: a moment in the last N days.
	ActiveWithinDays int `json:"active_within_days,omitempty"`
	// InactiveSince (YYYY-MM-DD): no moment on or after that day, i.e. the
	// last activity (if any) was before it.
	InactiveSince string `json:"inactive_since,omitempty"`
}

// Value stores the filter as JSON.
func (f SegmentFilter) Value() (driver.Value, error) { return json.Marshal(f) }

// Scan reads the filter from JSON.
func (f *SegmentFilter) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return errors.New("segments: filter is not jsonb")
	}
	return json.Unmarshal(b, f)
}

// Segment is a named, saved filter.
type Segment struct {
	ID        int64         `db:"id"`
	Name      string        `db:"name"`
	Filter    SegmentFilter `db:"filter"`
	CreatedBy string        `db:"created_by"`
	CreatedAt time.Time     `db:"created_at"`
	UpdatedAt time.Time     `db:"updated_at"`
}

// Limits of a filter, so a hostile or careless one cannot become a huge query.
const (
	maxSegmentValues = 100
	maxSegmentValue  = 64
	maxSegmentDays   = 3650
)

// segmentKinds are the identity kinds a filter may name.
var segmentKinds = map[string]bool{}

func init() {
	for _, k := range IdentityKinds {
		segmentKinds[string(k)] = true
	}
}

// Validate checks and normalises the filter in place. Errors: EINVALID.
func (f *SegmentFilter) Validate() error {
	bad := map[string]string{}
	f.TagIDs, f.ExcludeTagIDs, f.Channels = cleanList(f.TagIDs), cleanList(f.ExcludeTagIDs), cleanList(f.Channels)
	f.HasKinds, f.LacksKinds = cleanList(f.HasKinds), cleanList(f.LacksKinds)
	for field, list := range map[string][]string{"tags": f.TagIDs, "exclude_tags": f.ExcludeTagIDs, "channels": f.Channels} {
		if msg := checkValues(list); msg != "" {
			bad[field] = msg
		}
	}
	for _, k := range append(append([]string{}, f.HasKinds...), f.LacksKinds...) {
		if !segmentKinds[k] {
			bad["kinds"] = "未知的身份类型"
		}
	}
	if len(f.LevelIDs) > maxSegmentValues {
		bad["levels"] = "会员等级过多"
	}
	f.validateActivity(bad)
	if len(bad) > 0 {
		return Invalid("请检查筛选条件", bad)
	}
	return nil
}

func (f *SegmentFilter) validateActivity(bad map[string]string) {
	switch {
	case f.FormID <= 0:
		f.FormID, f.FormMode = 0, ""
	case f.FormMode != FormRegistered && f.FormMode != FormNotRegistered:
		bad["form"] = "请选择已报名或未报名"
	}
	if f.ActiveWithinDays < 0 || f.ActiveWithinDays > maxSegmentDays {
		bad["active_within_days"] = "天数为 0–3650"
	}
	f.InactiveSince = strings.TrimSpace(f.InactiveSince)
	if f.InactiveSince != "" {
		if _, err := time.Parse(time.DateOnly, f.InactiveSince); err != nil {
			bad["inactive_since"] = "日期格式为 YYYY-MM-DD"
		}
	}
}

func checkValues(list []string) string {
	if len(list) > maxSegmentValues {
		return "最多选择 100 项"
	}
	for _, v := range list {
		if len(v) > maxSegmentValue {
			return "取值过长（不超过 64 字节）"
		}
	}
	return ""
}

// SegmentService stores segments and counts and lists their users.
type SegmentService struct {
	db    *sqlx.DB
	audit *AuditService
	now   func() time.Time
}

// NewSegmentService returns the service; audit records admins' changes.
func NewSegmentService(db *sqlx.DB, audit *AuditService) *SegmentService {
	return &SegmentService{db: db, audit: audit, now: time.Now}
}

const segmentColumns = `id, name, filter, created_by, created_at, updated_at`

// List returns the segments, newest first.
func (s *SegmentService) List(ctx context.Context) ([]Segment, error) {
	var out []Segment
	if err := s.db.SelectContext(ctx, &out, `SELECT `+segmentColumns+` FROM segments ORDER BY id DESC LIMIT 500`); err != nil {
		return nil, fmt.Errorf("segments: list: %w", err)
	}
	return out, nil
}

// Get returns one segment. Errors: ENOTFOUND.
func (s *SegmentService) Get(ctx context.Context, id int64) (Segment, error) {
	var sg Segment
	if err := s.db.GetContext(ctx, &sg, `SELECT `+segmentColumns+` FROM segments WHERE id = $1`, id); err != nil {
		return Segment{}, wrapErr("segments: get", notFound(err, "人群"))
	}
	return sg, nil
}

// Count returns how many live marketing users match f. Errors: EINVALID.
func (s *SegmentService) Count(ctx context.Context, f SegmentFilter) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	q := compileSegment(f, s.now())
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM marketing_users u WHERE `+q.where(), q.args...); err != nil {
		return 0, fmt.Errorf("segments: count: %w", err)
	}
	return n, nil
}

// UserIDs returns the ids of the live marketing users matching segment id,
// ascending. Errors: ENOTFOUND.
func (s *SegmentService) UserIDs(ctx context.Context, id int64) ([]int64, error) {
	sg, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	q := compileSegment(sg.Filter, s.now())
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, `SELECT u.id FROM marketing_users u WHERE `+q.where()+` ORDER BY u.id`, q.args...); err != nil {
		return nil, fmt.Errorf("segments: users: %w", err)
	}
	return ids, nil
}

// countByID counts the users of a saved segment. Errors: ENOTFOUND.
func (s *SegmentService) countByID(ctx context.Context, id int64) (int, error) {
	sg, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	return s.Count(ctx, sg.Filter)
}

// SegmentInput is what an admin saves.
type SegmentInput struct {
	Name   string
	Filter SegmentFilter
}

func (in *SegmentInput) validate() error {
	in.Name = strings.TrimSpace(in.Name)
	err := in.Filter.Validate()
	fields := ErrorFields(err)
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > 60 {
		if fields == nil {
			fields = map[string]string{}
		}
		fields["name"] = "请填写名称（不超过 60 字）"
	}
	if len(fields) > 0 {
		return Invalid("请检查标红的字段", fields)
	}
	return nil
}

// CreateSegment saves a new segment. Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *SegmentService) CreateSegment(ctx context.Context, v Operator, in SegmentInput) (Segment, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Segment{}, err
	}
	if err := in.validate(); err != nil {
		return Segment{}, err
	}
	var id int64
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &id, `INSERT INTO segments (name, filter, created_by) VALUES ($1, $2, $3) RETURNING id`,
			in.Name, in.Filter, v.Actor()); err != nil {
			return fmt.Errorf("segments: create: %w", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("segment_created", "segment", strconv.FormatInt(id, 10), map[string]any{"name": in.Name}))
	})
	if err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, id)
}

// UpdateSegment replaces a segment's name and filter. Admins only.
// Errors: EFORBIDDEN, EINVALID, ENOTFOUND.
func (s *SegmentService) UpdateSegment(ctx context.Context, v Operator, id int64, in SegmentInput) (Segment, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Segment{}, err
	}
	if err := in.validate(); err != nil {
		return Segment{}, err
	}
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE segments SET name = $2, filter = $3, updated_at = $4 WHERE id = $1`, id, in.Name, in.Filter, s.now())
		if err != nil {
			return fmt.Errorf("segments: update: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "人群不存在")
		}
		return s.audit.recordTx(ctx, tx, v.audit("segment_updated", "segment", strconv.FormatInt(id, 10), map[string]any{"name": in.Name}))
	})
	if err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, id)
}

// DeleteSegment deletes a segment. Mass messages already sent to it keep
// their copy of its name. Admins only. Errors: EFORBIDDEN, ENOTFOUND.
func (s *SegmentService) DeleteSegment(ctx context.Context, v Operator, id int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var name string
		if err := tx.GetContext(ctx, &name, `DELETE FROM segments WHERE id = $1 RETURNING name`, id); err != nil {
			return wrapErr("segments: delete", notFound(err, "人群"))
		}
		return s.audit.recordTx(ctx, tx, v.audit("segment_deleted", "segment", strconv.FormatInt(id, 10), map[string]any{"name": name}))
	})
}

// SegmentChoices are the values the segment form offers.
type SegmentChoices struct {
	Tags     []TagChoice
	Channels []FormChoice // channel QR codes: Slug is the code, Title the name
	Levels   []Level
	Forms    []Form
}

// Choices lists the connected corp's tags and channel QR codes, the member
// levels and the forms (published or not: old registrations still count).
func (s *SegmentService) Choices(ctx context.Context) (SegmentChoices, error) {
	var c SegmentChoices
	err := s.db.SelectContext(ctx, &c.Tags, `SELECT t.tag_id, t.name, coalesce(g.name, '') AS group_name
FROM wecom_tags t LEFT JOIN wecom_tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id
WHERE t.corp_id = (SELECT corp_id FROM wecom_settings) AND t.deleted_at IS NULL
ORDER BY g.sort_order DESC, g.name, t.sort_order DESC, t.name LIMIT 1000`)
	if err == nil {
		err = s.db.SelectContext(ctx, &c.Channels, `SELECT code AS slug, name AS title FROM wecom_channels
WHERE corp_id = (SELECT corp_id FROM wecom_settings) ORDER BY id DESC LIMIT 500`)
	}
	if err == nil {
		err = s.db.SelectContext(ctx, &c.Levels, `SELECT id, name, threshold, corp_tag_id, 0 AS members FROM member_levels ORDER BY threshold`)
	}
	if err == nil {
		err = s.db.SelectContext(ctx, &c.Forms, `SELECT id, slug, title FROM forms ORDER BY id DESC LIMIT 500`)
	}
	if err != nil {
		return c, fmt.Errorf("segments: choices: %w", err)
	}
	return c, nil
}
