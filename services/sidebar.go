package services

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/pii"
)

// SidebarService answers the WeCom chat sidebar: who the customer is, their
// merged moments, tags, phone reveals, CRM conversion and group chats. Every
// read is guarded by the data permission of access.go in the same statement.
type SidebarService struct {
	db    *sqlx.DB
	pii   *pii.Box
	ids   *IdentityService
	audit *AuditService
	now   func() time.Time
	// stmts holds the hot path's prepared statements, by query text.
	// Planning the profile query costs several times its execution, and
	// lib/pq sends an unprepared query in two round trips (parse, then
	// bind/execute); prepared once, PostgreSQL keeps a generic plan.
	stmts stmtCache
}

// NewSidebarService returns the service.
func NewSidebarService(db *sqlx.DB, box *pii.Box, ids *IdentityService, audit *AuditService) *SidebarService {
	return &SidebarService{db: db, pii: box, ids: ids, audit: audit, now: time.Now}
}

// prepared returns the prepared statement of query, preparing it once.
func (s *SidebarService) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	st, err := s.stmts.get(ctx, s.db, query)
	if err != nil {
		return nil, fmt.Errorf("sidebar: %w", err)
	}
	return st, nil
}

// get runs a prepared single-row query.
func (s *SidebarService) get(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// SidebarProfile is the customer of a one-on-one chat as the viewer may see
// them, with the first page of their merged timeline.
type SidebarProfile struct {
	UserID         int64
	ExternalUserID string
	Role           string // the viewer's role
	Contact        SidebarContact
	Followers      []SidebarFollower
	// Identities, strongest first, each with its evidence (Identity.Why).
	Identities     []Identity
	OpenConflicts  int
	CanRevealPhone bool
	Timeline       SidebarTimeline
}

// SidebarContact is the WeCom side of the customer (from the mirror).
type SidebarContact struct {
	Name, Avatar, CorpName, Position string
	Remark                           string // the viewer's remark, if they follow
}

// SidebarFollower is an employee who has the customer as a contact.
type SidebarFollower struct {
	UserID         string   `json:"userid"`
	Name           string   `json:"name"`
	Remark         string   `json:"remark"`
	ExternalUserID string   `json:"external_userid"`
	TagIDs         []string `json:"tag_ids"`
}

// SidebarMoment is a moment with the name of the employee it is attributed to.
type SidebarMoment struct {
	Moment
	EmployeeName string `db:"employee_name"`
}

// SidebarTimeline is one page of moments, newest first; Next is "" on the last.
type SidebarTimeline struct {
	Moments []SidebarMoment
	Next    string
}

// The profile query reads access, identities, followers, the contact card,
// conflicts, the reveal permission and the first timeline page in one round
// trip: a 'p' row with the profile, an 'i' row per identity and an 'm' row
// per moment. Rows, not JSON: building JSON in PostgreSQL and decoding it
// here cost more than the rest of the request. Each part fills the other
// parts' columns with placeholders (timestamps with NULL: decoding one
// costs more than the rest of a row). The query is profileHead, then "" or
// timelineKindFilter ($4), then profileTail.
const profileHead = accessCTE + `SELECT 'p' AS part, a.user_id, a.role, a.allowed,
  CASE WHEN a.allowed THEN (SELECT coalesce(json_agg(json_build_object('userid', f.userid,
        'name', coalesce(e.name, ''), 'remark', f.remark, 'external_userid', f.external_userid,
        'tag_ids', f.tag_ids) ORDER BY f.createtime, f.userid), '[]')
     FROM identities x
     JOIN wecom_follows f ON f.corp_id = $1 AND f.external_userid = x.key AND f.deleted_at IS NULL
     LEFT JOIN wecom_employees e ON e.corp_id = f.corp_id AND e.userid = f.userid
     WHERE x.user_id = a.user_id AND x.kind = 'wecom_external_userid' AND x.scope = $1) END AS follows,
  coalesce(c.name, '') AS name, coalesce(c.avatar, '') AS avatar, coalesce(c.corp_name, '') AS corp_name,
  coalesce(c.position, '') AS position,
  (SELECT count(*) FROM identity_conflicts k
    WHERE k.status = 'open' AND (k.user_a = a.user_id OR k.user_b = a.user_id)) AS conflicts,
  EXISTS (SELECT 1 FROM sidebar_settings WHERE a.role = ANY (phone_reveal_roles)) AS can_reveal,
  0::bigint AS i_id, ''::text AS i_kind, ''::text AS i_scope, ''::text AS i_key, NULL::bytea AS i_phone,
  false AS i_verified, NULL::jsonb AS i_attrs, NULL::bigint AS i_seen_with, ''::text AS i_linked_kind,
  ''::text AS i_ev_source, ''::text AS i_ev_ref, false AS i_ev_verified, NULL::timestamptz AS i_first_seen,
  NULL::timestamptz AS i_last_seen,
  0::bigint AS m_id, 0::bigint AS m_identity_id, ''::text AS m_identity_kind, ''::text AS m_kind,
  NULL::timestamptz AS m_occurred_at, ''::text AS m_channel, ''::text AS m_employee_userid, ''::text AS m_title,
  NULL::jsonb AS m_detail, ''::text AS m_employee_name
FROM a LEFT JOIN wecom_external_contacts c ON c.corp_id = $1 AND c.external_userid = $3
UNION ALL
SELECT 'i', a.user_id, '', true, NULL, '', '', '', '', 0, false,
       i.id, i.kind, i.scope, i.key, i.phone, i.verified, i.attrs, i.seen_with, coalesce(l.kind, ''),
       i.ev_source, i.ev_ref, i.ev_verified, i.first_seen, i.last_seen,
       0, 0, '', '', NULL, '', '', '', NULL, ''
FROM a
JOIN identities i ON i.user_id = a.user_id
LEFT JOIN identities l ON l.id = i.seen_with
WHERE a.allowed
UNION ALL
SELECT 'm', a.user_id, '', true, NULL, '', '', '', '', 0, false,
       0, '', '', '', NULL, false, NULL, NULL, '', '', '', false, NULL, NULL,
       m.id, m.identity_id, t.identity_kind, m.kind, m.occurred_at, m.channel, m.employee_userid, m.title,
       m.detail, coalesce(e.name, '')
FROM a
CROSS JOIN LATERAL (
    SELECT i.kind AS identity_kind, x.id, x.occurred_at
      FROM identities i
     CROSS JOIN LATERAL (
           SELECT id, occurred_at FROM moments
            WHERE identity_id = i.id`

// profileTail follows profileHead and the timeline's kind filter; both
// LIMITs are sidebarPageSize.
const profileTail = `
            ORDER BY occurred_at DESC, id DESC
            LIMIT 20) x
     WHERE i.user_id = a.user_id
     ORDER BY x.occurred_at DESC, x.id DESC
     LIMIT 20) t
JOIN moments m ON m.id = t.id
LEFT JOIN wecom_employees e ON e.corp_id = $1 AND e.userid = m.employee_userid
WHERE a.allowed`

// timelineKindFilter limits the profile's timeline to the kinds in $4
// (the moments_timeline_kind index serves it).
const timelineKindFilter = ` AND kind = ANY ($4::text[])`

const (
	profileAllKinds = profileHead + profileTail
	profileOfKinds  = profileHead + timelineKindFilter + profileTail
)

// profileRow is a row of the profile query: the profile's columns on the
// 'p' row, the identity's on the 'i' rows, the moment's on the 'm' rows.
type profileRow struct {
	Part string
	access
	Follows                          []byte
	Name, Avatar, CorpName, Position string
	Conflicts                        int
	CanReveal                        bool
	Ident                            identityRow
	Moment                           SidebarMoment
	// NULL on the rows of other parts
	firstSeen, lastSeen, occurredAt sql.NullTime
}

func (r *profileRow) dest() []any {
	i, m := &r.Ident, &r.Moment
	return []any{&r.Part, &r.UserID, &r.Role, &r.Allowed, &r.Follows, &r.Name, &r.Avatar, &r.CorpName,
		&r.Position, &r.Conflicts, &r.CanReveal,
		&i.ID, &i.Kind, &i.Scope, &i.Key, &i.Sealed, &i.Verified, &i.RawAttrs, &i.SeenWith, &i.LinkedKind,
		&i.Evidence.Source, &i.Evidence.Ref, &i.Evidence.Verified, &r.firstSeen, &r.lastSeen,
		&m.ID, &m.IdentityID, &m.IdentityKind, &m.Kind, &r.occurredAt,
		&m.Channel, &m.EmployeeUserID, &m.Title, (*[]byte)(&m.Detail), &m.EmployeeName}
}

// profileParts is what the profile query returned, part by part.
type profileParts struct {
	head       profileRow
	identities []identityRow // by id
	moments    []SidebarMoment
}

// Profile returns the customer behind externalUserID with the first
// timeline page (kinds filters it; empty for all), in one round trip.
// Errors: ENOTFOUND (unknown here, or not visible to the viewer: the caller
// may import the contact from WeCom and ask again), EINVALID (kind).
func (s *SidebarService) Profile(ctx context.Context, v Viewer, externalUserID string, kinds []MomentKind) (SidebarProfile, error) {
	parts, err := s.readProfile(ctx, v, externalUserID, kinds)
	if err != nil {
		return SidebarProfile{}, err
	}
	head := parts.head
	if !head.Allowed {
		return SidebarProfile{}, errNotVisible()
	}
	p := SidebarProfile{UserID: head.UserID, ExternalUserID: externalUserID, Role: head.Role,
		OpenConflicts: head.Conflicts, CanRevealPhone: head.CanReveal,
		Contact:  SidebarContact{Name: head.Name, Avatar: head.Avatar, CorpName: head.CorpName, Position: head.Position},
		Timeline: SidebarTimeline{Moments: parts.moments}}
	if p.Identities, err = s.openIdentities(parts.identities); err != nil {
		return SidebarProfile{}, err
	}
	if err := json.Unmarshal(head.Follows, &p.Followers); err != nil {
		return SidebarProfile{}, fmt.Errorf("sidebar: followers: %w", err)
	}
	p.Timeline.setNext()
	p.Contact.fill(p, v)
	return p, nil
}

// readProfile runs the profile query. Identities come ordered by id and
// moments newest first; ENOTFOUND when there is no such contact.
func (s *SidebarService) readProfile(ctx context.Context, v Viewer, ext string, kinds []MomentKind) (profileParts, error) {
	var out profileParts
	ks, err := kindStrings(kinds)
	if err != nil {
		return out, err
	}
	query, args := profileAllKinds, []any{v.CorpID, v.UserID, ext}
	if len(ks) > 0 {
		query, args = profileOfKinds, append(args, pq.Array(ks))
	}
	st, err := s.prepared(ctx, query)
	if err != nil {
		return out, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return out, fmt.Errorf("sidebar: profile: %w", err)
	}
	defer rows.Close()
	out.moments = make([]SidebarMoment, 0, sidebarPageSize)
	found := false
	var r profileRow // Scan copies []byte values, so one row's buffers serve every row
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return out, fmt.Errorf("sidebar: profile: %w", err)
		}
		switch r.Part {
		case "p":
			out.head, found = r, true
		case "i":
			r.Ident.UserID, r.Ident.FirstSeen, r.Ident.LastSeen = r.UserID, r.firstSeen.Time, r.lastSeen.Time
			out.identities = append(out.identities, r.Ident)
		default:
			r.Moment.UserID, r.Moment.OccurredAt = r.UserID, r.occurredAt.Time
			out.moments = append(out.moments, r.Moment)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("sidebar: profile: %w", err)
	}
	if !found {
		return out, errNotVisible()
	}
	slices.SortFunc(out.identities, func(x, y identityRow) int { return cmp.Compare(x.ID, y.ID) })
	slices.SortFunc(out.moments, func(x, y SidebarMoment) int {
		if c := y.OccurredAt.Compare(x.OccurredAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	return out, nil
}

// fill completes the card from the identities' attributes when the mirror
// has no row yet, and takes the viewer's own remark.
func (c *SidebarContact) fill(p SidebarProfile, v Viewer) {
	for _, f := range p.Followers {
		if f.UserID == v.UserID && f.ExternalUserID == p.ExternalUserID {
			c.Remark = f.Remark
		}
	}
	for _, i := range p.Identities {
		if c.Name == "" {
			c.Name = firstSet(i.Attrs.Name, i.Attrs.Nickname)
		}
		if c.Avatar == "" {
			c.Avatar = i.Attrs.Avatar
		}
		if c.CorpName == "" {
			c.CorpName = i.Attrs.Company
		}
	}
}

func firstSet(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// visibleOr maps "no row" to the not-visible answer.
func visibleOr(err error) error {
	if ErrorCode(notFound(err, "")) == ENOTFOUND {
		return errNotVisible()
	}
	return fmt.Errorf("sidebar: %w", err)
}

// openIdentities opens the identities (phones decrypted) and orders them
// strongest first, as IdentityService.Identities does.
func (s *SidebarService) openIdentities(rows []identityRow) ([]Identity, error) {
	ids := make([]Identity, len(rows))
	for k, row := range rows {
		var err error
		if ids[k], err = s.ids.open(row); err != nil {
			return nil, err
		}
	}
	out := make([]Identity, len(ids))
	for k, p := range sortByStrength(toInputs(ids), false) {
		out[k] = ids[p]
	}
	return out, nil
}

// accessQuery is accessCTE alone: the guard of every follow-up request.
const accessQuery = accessCTE + `SELECT user_id, role, allowed FROM a`

// check returns the person behind externalUserID when the viewer may see
// them. Errors: ENOTFOUND.
func (s *SidebarService) check(ctx context.Context, v Viewer, externalUserID string) (access, error) {
	var a access
	if err := s.get(ctx, &a, accessQuery, v.CorpID, v.UserID, externalUserID); err != nil {
		return access{}, visibleOr(err)
	}
	if !a.Allowed {
		return access{}, errNotVisible()
	}
	return a, nil
}

// Timeline returns a page of the customer's merged timeline (two round
// trips). Errors: ENOTFOUND, EINVALID (cursor, kind).
func (s *SidebarService) Timeline(ctx context.Context, v Viewer, externalUserID string, q TimelineQuery) (SidebarTimeline, error) {
	if _, _, err := decodeCursor(q.Cursor); err != nil {
		return SidebarTimeline{}, err
	}
	a, err := s.check(ctx, v, externalUserID)
	if err != nil {
		return SidebarTimeline{}, err
	}
	return s.timeline(ctx, v.CorpID, a.UserID, q)
}

// sidebarPageSize is the timeline page of the sidebar: enough to fill a
// phone screen twice, small enough to keep the first HTML light.
const sidebarPageSize = 20 // also in profileTail

// timeline runs the identity engine's keyset LATERAL query for a live user
// and names the employees (one round trip).
func (s *SidebarService) timeline(ctx context.Context, corpID string, userID int64, q TimelineQuery) (SidebarTimeline, error) {
	at, id, err := decodeCursor(q.Cursor)
	if err != nil {
		return SidebarTimeline{}, err
	}
	kinds, err := kindStrings(q.Kinds)
	if err != nil {
		return SidebarTimeline{}, err
	}
	inner, args := timelineAll, []any{userID, at, id, sidebarPageSize}
	if len(kinds) > 0 {
		inner, args = timelineKinds, append(args, pq.Array(kinds))
	}
	args = append(args, corpID)
	query := `SELECT t.id, t.user_id, t.identity_id, t.identity_kind, t.kind, t.occurred_at, t.channel, t.employee_userid,
       t.title, t.detail, coalesce(e.name, '') AS employee_name
FROM (` + inner + `) t
LEFT JOIN wecom_employees e ON e.corp_id = $` + fmt.Sprint(len(args)) + ` AND e.userid = t.employee_userid
ORDER BY t.occurred_at DESC, t.id DESC`
	var page SidebarTimeline
	st, err := s.prepared(ctx, query)
	if err != nil {
		return SidebarTimeline{}, err
	}
	if err := st.SelectContext(ctx, &page.Moments, args...); err != nil {
		return SidebarTimeline{}, fmt.Errorf("sidebar: timeline: %w", err)
	}
	page.setNext()
	return page, nil
}

// setNext sets the cursor of the next page when this one is full.
func (page *SidebarTimeline) setNext() {
	if len(page.Moments) == sidebarPageSize {
		last := page.Moments[len(page.Moments)-1]
		page.Next = encodeCursor(last.OccurredAt, last.ID)
	}
}

// kindStrings checks moment kinds and returns them as strings.
func kindStrings(kinds []MomentKind) ([]string, error) {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		if !k.Valid() {
			return nil, Invalid("未知的动态类型", map[string]string{"kind": "未知的动态类型"})
		}
		out = append(out, string(k))
	}
	return out, nil
}

// SidebarMaterial is a form or micro-page the employee can send into the
// chat; Link carries the signed attribution of the employee and the chat's
// customer.
type SidebarMaterial struct {
	ID, Title, Description, Cover, Link string
}
