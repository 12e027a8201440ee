package services

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// profileQuery reads access, identities, followers, the contact card,
// conflicts and the reveal permission in one round trip.
const profileQuery = accessCTE + `SELECT a.user_id, a.role, a.allowed,
  CASE WHEN a.allowed THEN (SELECT coalesce(json_agg(json_build_object(
        'id', i.id, 'user_id', i.user_id, 'kind', i.kind, 'scope', i.scope, 'key', i.key,
        'phone', encode(i.phone, 'base64'), 'verified', i.verified, 'attrs', i.attrs,
        'linked_kind', coalesce(l.kind, ''), 'ev_source', i.ev_source, 'ev_ref', i.ev_ref,
        'ev_verified', i.ev_verified, 'first_seen', i.first_seen, 'last_seen', i.last_seen) ORDER BY i.id), '[]')
     FROM identities i LEFT JOIN identities l ON l.id = i.seen_with WHERE i.user_id = a.user_id) END AS identities,
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
  EXISTS (SELECT 1 FROM sidebar_settings WHERE a.role = ANY (phone_reveal_roles)) AS can_reveal
FROM a LEFT JOIN wecom_external_contacts c ON c.corp_id = $1 AND c.external_userid = $3`

type profileRow struct {
	access
	Identities []byte `db:"identities"`
	Follows    []byte `db:"follows"`
	Name       string `db:"name"`
	Avatar     string `db:"avatar"`
	CorpName   string `db:"corp_name"`
	Position   string `db:"position"`
	Conflicts  int    `db:"conflicts"`
	CanReveal  bool   `db:"can_reveal"`
}

// Profile returns the customer behind externalUserID with the first
// timeline page (kinds filters it; empty for all), in two round trips.
// Errors: ENOTFOUND (unknown here, or not visible to the viewer: the caller
// may import the contact from WeCom and ask again), EINVALID (kind).
func (s *SidebarService) Profile(ctx context.Context, v Viewer, externalUserID string, kinds []MomentKind) (SidebarProfile, error) {
	var r profileRow
	if err := s.get(ctx, &r, profileQuery, v.CorpID, v.UserID, externalUserID); err != nil {
		return SidebarProfile{}, visibleOr(err)
	}
	if !r.Allowed {
		return SidebarProfile{}, errNotVisible()
	}
	p := SidebarProfile{UserID: r.UserID, ExternalUserID: externalUserID, Role: r.Role, OpenConflicts: r.Conflicts,
		CanRevealPhone: r.CanReveal,
		Contact:        SidebarContact{Name: r.Name, Avatar: r.Avatar, CorpName: r.CorpName, Position: r.Position}}
	var err error
	if p.Identities, err = s.decodeIdentities(r.Identities); err != nil {
		return SidebarProfile{}, err
	}
	if err := json.Unmarshal(r.Follows, &p.Followers); err != nil {
		return SidebarProfile{}, fmt.Errorf("sidebar: followers: %w", err)
	}
	p.Contact.fill(p, v)
	p.Timeline, err = s.timeline(ctx, v.CorpID, r.UserID, TimelineQuery{Kinds: kinds})
	return p, err
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

// identityJSON is one element of profileQuery's identities array.
type identityJSON struct {
	ID         int64           `json:"id"`
	UserID     int64           `json:"user_id"`
	Kind       IdentityKind    `json:"kind"`
	Scope      string          `json:"scope"`
	Key        string          `json:"key"`
	Phone      string          `json:"phone"` // base64 of the sealed number
	Verified   bool            `json:"verified"`
	Attrs      json.RawMessage `json:"attrs"`
	LinkedKind string          `json:"linked_kind"`
	EvSource   string          `json:"ev_source"`
	EvRef      string          `json:"ev_ref"`
	EvVerified bool            `json:"ev_verified"`
	FirstSeen  time.Time       `json:"first_seen"`
	LastSeen   time.Time       `json:"last_seen"`
}

// decodeIdentities opens the identities (phones decrypted) and orders them
// strongest first, as IdentityService.Identities does.
func (s *SidebarService) decodeIdentities(raw []byte) ([]Identity, error) {
	var in []identityJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("sidebar: identities: %w", err)
	}
	ids := make([]Identity, len(in))
	for k, j := range in {
		sealed, err := base64.StdEncoding.DecodeString(j.Phone)
		if err != nil {
			return nil, fmt.Errorf("sidebar: identity %d phone: %w", j.ID, err)
		}
		row := identityRow{Identity: Identity{ID: j.ID, UserID: j.UserID, Kind: j.Kind, Scope: j.Scope, Key: j.Key,
			Verified: j.Verified, LinkedKind: j.LinkedKind, FirstSeen: j.FirstSeen, LastSeen: j.LastSeen,
			Evidence: Evidence{Source: j.EvSource, Ref: j.EvRef, Verified: j.EvVerified}}, Sealed: sealed, RawAttrs: j.Attrs}
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
const sidebarPageSize = 20

// timeline runs the identity engine's keyset LATERAL query for a live user
// and names the employees (one round trip).
func (s *SidebarService) timeline(ctx context.Context, corpID string, userID int64, q TimelineQuery) (SidebarTimeline, error) {
	at, id, err := decodeCursor(q.Cursor)
	if err != nil {
		return SidebarTimeline{}, err
	}
	kinds := make([]string, 0, len(q.Kinds))
	for _, k := range q.Kinds {
		if !k.Valid() {
			return SidebarTimeline{}, Invalid("未知的动态类型", map[string]string{"kind": "未知的动态类型"})
		}
		kinds = append(kinds, string(k))
	}
	inner, args := timelineAll, []any{userID, at, id, sidebarPageSize}
	if len(kinds) > 0 {
		inner, args = timelineKinds, append(args, pq.Array(kinds))
	}
	args = append(args, corpID)
	query := `SELECT t.id, t.identity_id, t.identity_kind, t.kind, t.occurred_at, t.channel, t.employee_userid,
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
	if len(page.Moments) == sidebarPageSize {
		last := page.Moments[len(page.Moments)-1]
		page.Next = encodeCursor(last.OccurredAt, last.ID)
	}
	return page, nil
}

// SidebarMaterial is a form or micro-page the employee can send into the
// chat; Link carries the signed attribution of the employee and the chat's
// customer.
type SidebarMaterial struct {
	ID, Title, Description, Cover, Link string
}
