package services

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// MomentKind is what happened in a moment.
type MomentKind string

// MomentKinds lists every kind of moment.
var MomentKinds = []MomentKind{"form_viewed", "form_submitted", "material_sent", "material_opened",
	"oa_subscribed", "oa_unsubscribed", "oa_scanned", "oa_menu_clicked", "mp_authorized", "wecom_added",
	"wecom_deleted_by_customer", "wecom_deleted_by_staff", "wecom_tagged", "group_joined", "group_left",
	"crm_created", "crm_converted", "crm_updated", "member_level_changed", "identity_merged", "identity_split",
	KindAutomationAction}

// KindAutomationAction is what an automation rule did (services/automation*.go);
// these moments never trigger rules.
const KindAutomationAction MomentKind = "automation_action"

// Valid reports whether k is a known kind.
func (k MomentKind) Valid() bool {
	for _, x := range MomentKinds {
		if k == x {
			return true
		}
	}
	return false
}

// MomentInput is a moment to record with an observation. Identity is the
// position, in Observation.Identities, of the identity it was observed on.
type MomentInput struct {
	Identity       int
	Kind           MomentKind
	OccurredAt     time.Time // zero: the observation's time
	Channel        string    // e.g. form, oa, mp, wecom, crm
	EmployeeUserID string
	Title          string
	Detail         json.RawMessage // a JSON object, or empty
	// DedupKey makes replays no-ops; empty derives one from the identity,
	// kind, time, title and the observation's source and reference.
	DedupKey string
}

func (m MomentInput) validate() error {
	if !m.Kind.Valid() {
		return Invalid("未知的动态类型", map[string]string{"kind": "未知的动态类型 " + string(m.Kind)})
	}
	if len(m.Detail) > 0 && (!json.Valid(m.Detail) || strings.TrimSpace(string(m.Detail))[0] != '{') {
		return Invalid("动态详情必须是 JSON 对象", map[string]string{"detail": "必须是 JSON 对象"})
	}
	if len(m.DedupKey) > 200 || len(m.Title) > 500 {
		return Invalid("动态字段过长", map[string]string{"title": "过长"})
	}
	return nil
}

// Moment is a recorded moment.
type Moment struct {
	ID             int64           `db:"id" json:"id"`
	UserID         int64           `db:"user_id" json:"-"` // the (resolved) user whose timeline it came from
	IdentityID     int64           `db:"identity_id" json:"identity_id"`
	IdentityKind   IdentityKind    `db:"identity_kind" json:"identity_kind"`
	Kind           MomentKind      `db:"kind" json:"kind"`
	OccurredAt     time.Time       `db:"occurred_at" json:"occurred_at"`
	Channel        string          `db:"channel" json:"channel,omitempty"`
	EmployeeUserID string          `db:"employee_userid" json:"employee_userid,omitempty"`
	Title          string          `db:"title" json:"title,omitempty"`
	Detail         json.RawMessage `db:"detail" json:"detail,omitempty"`
}

// MomentRecord is a moment on an identity already known by id.
type MomentRecord struct {
	IdentityID int64
	MomentInput
}

// RecordMoments records moments on known identities; replays (same dedup
// key) are ignored. It returns how many were new. Errors: EINVALID.
func (s *IdentityService) RecordMoments(ctx context.Context, ms []MomentRecord) (int, error) {
	var ids []int64
	var kinds, ats, chs, emps, titles, dets, keys []string
	for _, m := range ms {
		if m.OccurredAt.IsZero() {
			m.OccurredAt = s.now()
		}
		if err := m.validate(); err != nil {
			return 0, err
		}
		if m.DedupKey == "" {
			m.DedupKey = fmt.Sprintf("auto:%d:%s:%d:%s", m.IdentityID, m.Kind, m.OccurredAt.UnixNano(), m.Title)
		}
		ids = append(ids, m.IdentityID)
		kinds, ats = append(kinds, string(m.Kind)), append(ats, m.OccurredAt.UTC().Format(time.RFC3339Nano))
		chs, emps = append(chs, m.Channel), append(emps, m.EmployeeUserID)
		titles, dets, keys = append(titles, m.Title), append(dets, m.detailJSON()), append(keys, m.DedupKey)
	}
	const q = `INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, detail, dedup_key)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[])
ON CONFLICT (dedup_key) DO NOTHING`
	res, err := s.db.ExecContext(ctx, q, pq.Array(ids), pq.Array(kinds), pq.Array(ats), pq.Array(chs),
		pq.Array(emps), pq.Array(titles), pq.Array(dets), pq.Array(keys))
	if err != nil {
		if isForeignKeyViolation(err) {
			return 0, Errorf(ENOTFOUND, "标识不存在")
		}
		return 0, fmt.Errorf("moments: record: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// TimelineQuery selects a page of a user's timeline.
type TimelineQuery struct {
	Cursor string       // opaque; "" for the newest page
	Kinds  []MomentKind // empty: every kind
	Limit  int          // 1..500, default 20
}

// TimelinePage is one page of moments, newest first. Next is "" on the last page.
type TimelinePage struct {
	UserID  int64
	Moments []Moment
	Next    string
}

// Timeline returns the moments of every identity of the user (absorbed ids
// resolve to their survivor), newest first, by keyset pagination: one LATERAL
// index probe per identity, so depth does not cost. Errors: EINVALID (cursor,
// kind), ENOTFOUND.
func (s *IdentityService) Timeline(ctx context.Context, userID int64, q TimelineQuery) (TimelinePage, error) {
	at, id, err := decodeCursor(q.Cursor)
	if err != nil {
		return TimelinePage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 20
	}
	q.Limit = min(q.Limit, 500)
	kinds := make([]string, 0, len(q.Kinds))
	for _, k := range q.Kinds {
		if !k.Valid() {
			return TimelinePage{}, Invalid("未知的动态类型", map[string]string{"kind": "未知的动态类型"})
		}
		kinds = append(kinds, string(k))
	}
	// one round trip: the query resolves the user itself; only an empty page
	// asks again, to tell an unknown user from an empty timeline
	var page TimelinePage
	query, args := timelineAll, []any{userID, at, id, q.Limit}
	if len(kinds) > 0 {
		query, args = timelineKinds, append(args, pq.Array(kinds))
	}
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return TimelinePage{}, err
	}
	if err := stmt.SelectContext(ctx, &page.Moments, args...); err != nil {
		return TimelinePage{}, fmt.Errorf("moments: timeline: %w", err)
	}
	if len(page.Moments) > 0 {
		page.UserID = page.Moments[0].UserID
	} else if page.UserID, err = s.resolve(ctx, userID); err != nil {
		return TimelinePage{}, err
	}
	if len(page.Moments) == q.Limit {
		last := page.Moments[len(page.Moments)-1]
		page.Next = encodeCursor(last.OccurredAt, last.ID)
	}
	return page, nil
}

// The timeline queries pick the page from the index alone (index-only scans
// of (identity_id[, kind], occurred_at, id), one LATERAL probe per identity)
// and fetch the 20 chosen rows afterwards.
const timelineAll = `SELECT m.id, t.user_id, m.identity_id, t.identity_kind, m.kind, m.occurred_at, m.channel,
       m.employee_userid, m.title, m.detail
FROM (
    SELECT i.user_id, i.kind AS identity_kind, x.id, x.occurred_at
    FROM identities i
    CROSS JOIN LATERAL (
        SELECT id, occurred_at FROM moments
        WHERE identity_id = i.id AND (occurred_at, id) < ($2, $3)
        ORDER BY occurred_at DESC, id DESC
        LIMIT $4) x
    WHERE i.user_id = (SELECT identity_resolve($1))
    ORDER BY x.occurred_at DESC, x.id DESC
    LIMIT $4) t
JOIN moments m ON m.id = t.id
ORDER BY t.occurred_at DESC, t.id DESC`

const timelineKinds = `SELECT m.id, t.user_id, m.identity_id, t.identity_kind, m.kind, m.occurred_at, m.channel,
       m.employee_userid, m.title, m.detail
FROM (
    SELECT i.user_id, i.kind AS identity_kind, x.id, x.occurred_at
    FROM identities i
    CROSS JOIN unnest($5::text[]) AS k(kind)
    CROSS JOIN LATERAL (
        SELECT id, occurred_at FROM moments
        WHERE identity_id = i.id AND kind = k.kind AND (occurred_at, id) < ($2, $3)
        ORDER BY occurred_at DESC, id DESC
        LIMIT $4) x
    WHERE i.user_id = (SELECT identity_resolve($1))
    ORDER BY x.occurred_at DESC, x.id DESC
    LIMIT $4) t
JOIN moments m ON m.id = t.id
ORDER BY t.occurred_at DESC, t.id DESC`

// farFuture is the cursor of the first page.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func encodeCursor(at time.Time, id int64) string {
	raw := strconv.FormatInt(at.UnixMicro(), 36) + "." + strconv.FormatInt(id, 36)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(c string) (time.Time, int64, error) {
	if c == "" {
		return farFuture, 0, nil
	}
	bad := Invalid("分页游标无效", map[string]string{"cursor": "无效"})
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, 0, bad
	}
	a, b, ok := strings.Cut(string(raw), ".")
	us, err1 := strconv.ParseInt(a, 36, 64)
	id, err2 := strconv.ParseInt(b, 36, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// prepared returns the service's prepared statement for query: the timeline
// is read often and planning it costs as much as running it.
func (s *IdentityService) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	st, err := s.stmts.get(ctx, s.db, query)
	if err != nil {
		return nil, fmt.Errorf("identities: %w", err)
	}
	return st, nil
}
