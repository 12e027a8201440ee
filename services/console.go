package services

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
)

// ConsoleService is the admin console's view of marketing users: search,
// detail, merges, splits, conflicts, phone reveal and export, each checked
// against the operator's data permission and audited where it matters. The
// identity rules themselves stay in IdentityService.
type ConsoleService struct {
	db    *sqlx.DB
	pii   *pii.Box
	ids   *IdentityService
	audit *AuditService
	now   func() time.Time
}

// NewConsoleService returns the service.
func NewConsoleService(db *sqlx.DB, box *pii.Box, ids *IdentityService, audit *AuditService) *ConsoleService {
	return &ConsoleService{db: db, pii: box, ids: ids, audit: audit, now: time.Now}
}

// UserFilter selects marketing users. Zero values select everything active.
type UserFilter struct {
	Phone        string       // any format NormalizePhone accepts; matched through the blind index
	Name         string       // substring of a name, nickname or WeCom customer name
	Tag          string       // a WeCom corp tag (id or name) on one of the user's customer relations
	Channel      string       // a channel some moment of the user came through
	Kind         IdentityKind // the user has an identity of this kind
	ActiveFrom   time.Time    // some moment on or after
	ActiveTo     time.Time    // some moment before
	WithArchived bool
	After        int64 // keyset: ids below this one (the list runs newest first)
	Limit        int   // 1..200, default 50
}

func (f *UserFilter) normalize() {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if f.ActiveTo.IsZero() {
		f.ActiveTo = farFuture
	}
	f.Name = strings.TrimSpace(f.Name)
}

// UserRow is one marketing user in a list; Phone is masked.
type UserRow struct {
	ID          int64      `db:"id"`
	Name        string     `db:"name"`
	SealedPhone []byte     `db:"phone"`
	Phone       string     `db:"-"`
	NIdentities int        `db:"n_identities"`
	Kinds       string     `db:"kinds"`
	CreatedAt   time.Time  `db:"created_at"`
	LastActive  *time.Time `db:"last_active"`
	ArchivedAt  *time.Time `db:"archived_at"`
}

// UserPage is a page of users; Next is the keyset cursor of the next page (0: none).
type UserPage struct {
	Users []UserRow
	Next  int64
}

// usersQuery lists live users with their display fields; $1..$9 are the
// filters, $10/$11 the scope, $12 the limit.
const usersQuery = `SELECT u.id, u.n_identities, u.created_at, a.archived_at,
    coalesce((SELECT coalesce(nullif(i.attrs->>'name', ''), i.attrs->>'nickname') FROM identities i
              WHERE i.user_id = u.id AND (i.attrs->>'name' <> '' OR i.attrs->>'nickname' <> '')
              ORDER BY i.id LIMIT 1), '') AS name,
    (SELECT i.phone FROM identities i WHERE i.user_id = u.id AND i.kind = 'phone'
     ORDER BY i.verified DESC, i.id LIMIT 1) AS phone,
    (SELECT string_agg(DISTINCT i.kind, ',') FROM identities i WHERE i.user_id = u.id) AS kinds,
    (SELECT max(m.occurred_at) FROM identities i CROSS JOIN LATERAL (
        SELECT occurred_at FROM moments WHERE identity_id = i.id ORDER BY occurred_at DESC LIMIT 1) m
     WHERE i.user_id = u.id) AS last_active
FROM marketing_users u LEFT JOIN marketing_user_archive a ON a.user_id = u.id
WHERE u.merged_into IS NULL AND u.n_identities > 0
  AND ($1 = 0 OR u.id < $1)
  AND ($2 OR a.user_id IS NULL)
  AND NOT EXISTS (SELECT 1 FROM data_erasures e WHERE e.user_id = u.id)
  AND ($3 = '' OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.kind = 'phone' AND i.scope = '' AND i.key = $3))
  AND ($4 = '' OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id
        AND (i.attrs->>'name' ILIKE $4 OR i.attrs->>'nickname' ILIKE $4
             OR (i.kind = 'wecom_external_userid' AND EXISTS (SELECT 1 FROM wecom_external_contacts c
                 WHERE c.corp_id = i.scope AND c.external_userid = i.key AND c.name ILIKE $4)))))
  AND ($5 = '' OR EXISTS (SELECT 1 FROM identities i
        JOIN wecom_follows f ON f.corp_id = i.scope AND f.external_userid = i.key AND f.deleted_at IS NULL
        JOIN wecom_tags t ON t.corp_id = f.corp_id AND t.tag_id = ANY (f.tag_ids)
        WHERE i.user_id = u.id AND i.kind = 'wecom_external_userid' AND (t.tag_id = $5 OR t.name = $5)))
  AND ($6 = '' OR EXISTS (SELECT 1 FROM identities i JOIN moments m ON m.identity_id = i.id
        WHERE i.user_id = u.id AND m.channel = $6))
  AND ($7 = '' OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.kind = $7))
  AND ($8::timestamptz IS NULL OR EXISTS (SELECT 1 FROM identities i JOIN moments m ON m.identity_id = i.id
        WHERE i.user_id = u.id AND m.occurred_at >= $8 AND m.occurred_at < $9))
  AND ` + "%s" + `
ORDER BY u.id DESC LIMIT $12`

// FindUsers lists the marketing users the operator may see, newest first.
// Errors: EINVALID (phone, kind), EFORBIDDEN (staff).
func (s *ConsoleService) FindUsers(ctx context.Context, v Operator, f UserFilter) (UserPage, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return UserPage{}, err
	}
	f.normalize()
	rows, err := s.selectUsers(ctx, v, f, f.Limit+1)
	if err != nil {
		return UserPage{}, err
	}
	p := UserPage{Users: rows}
	if len(rows) > f.Limit {
		p.Users = rows[:f.Limit]
		p.Next = p.Users[f.Limit-1].ID
	}
	return p, nil
}

func (s *ConsoleService) selectUsers(ctx context.Context, v Operator, f UserFilter, limit int) ([]UserRow, error) {
	phoneKey := ""
	if strings.TrimSpace(f.Phone) != "" {
		k, err := s.ids.PhoneKey(f.Phone)
		if err != nil {
			return nil, err
		}
		phoneKey = k
	}
	if f.Kind != "" && !f.Kind.Valid() {
		return nil, Invalid("未知的标识类型", map[string]string{"kind": "未知的标识类型"})
	}
	name := ""
	if f.Name != "" {
		name = "%" + likeEscape(f.Name) + "%"
	}
	var from any
	if !f.ActiveFrom.IsZero() {
		from = f.ActiveFrom
	}
	sc, err := scopeOf(ctx, s.db, v)
	if err != nil {
		return nil, err
	}
	all, emps := sc.args()
	q := fmt.Sprintf(usersQuery, visible(10))
	var rows []UserRow
	err = s.db.SelectContext(ctx, &rows, q, f.After, f.WithArchived, phoneKey, name, f.Tag, f.Channel,
		string(f.Kind), from, f.ActiveTo, all, emps, limit)
	if err != nil {
		return nil, fmt.Errorf("console: users: %w", err)
	}
	for i := range rows {
		if rows[i].SealedPhone != nil {
			p, err := s.pii.OpenString("identities.phone", rows[i].SealedPhone)
			if err != nil {
				return nil, fmt.Errorf("console: open phone of user %d: %w", rows[i].ID, err)
			}
			rows[i].Phone, rows[i].SealedPhone = MaskPhone(p), nil
		}
	}
	return rows, nil
}

// likeEscape escapes LIKE wildcards so a search matches them literally.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UserDetail is everything the console shows about one marketing user.
// Identity phones are masked.
type UserDetail struct {
	User       MarketingUser
	Identities []Identity
	Timeline   TimelinePage
	MergeLog   []MergeLogEntry
	Conflicts  []Conflict
	ArchivedAt *time.Time
}

// FindUser returns the user's detail with one page of the timeline.
// Errors: ENOTFOUND (also when outside the operator's scope), EINVALID (cursor).
func (s *ConsoleService) FindUser(ctx context.Context, v Operator, id int64, cursor string) (UserDetail, error) {
	if err := s.check(ctx, v, id); err != nil {
		return UserDetail{}, err
	}
	var d UserDetail
	var err error
	if d.User, err = s.ids.FindUserByID(ctx, id); err != nil {
		return d, err
	}
	if d.Identities, err = s.ids.Identities(ctx, id); err != nil {
		return d, err
	}
	for i := range d.Identities {
		if d.Identities[i].Phone != "" {
			d.Identities[i].Phone = MaskPhone(d.Identities[i].Phone)
		}
	}
	if d.Timeline, err = s.ids.Timeline(ctx, id, TimelineQuery{Cursor: cursor, Limit: 30}); err != nil {
		return d, err
	}
	if d.MergeLog, err = s.ids.MergeLog(ctx, id); err != nil {
		return d, err
	}
	if d.Conflicts, err = s.ids.Conflicts(ctx, ConflictFilter{UserID: id, Limit: 50}); err != nil {
		return d, err
	}
	err = s.db.GetContext(ctx, &d.ArchivedAt, `SELECT archived_at FROM marketing_user_archive WHERE user_id = $1`, d.User.ID)
	if err != nil && err != sql.ErrNoRows {
		return d, fmt.Errorf("console: archive state: %w", err)
	}
	return d, nil
}

// check lets admins and managers through to a user they may see.
func (s *ConsoleService) check(ctx context.Context, v Operator, userID int64) error {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return err
	}
	return canSee(ctx, s.db, v, userID)
}

// RevealPhone returns one phone identity of the user in full, for admins
// only, and audits it: one audit row per reveal, written before the number
// is returned, so no reveal goes unrecorded.
// Errors: EFORBIDDEN (not an admin), ENOTFOUND.
func (s *ConsoleService) RevealPhone(ctx context.Context, v Operator, userID, identityID int64) (string, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return "", Errorf(EFORBIDDEN, "只有管理员可以查看完整手机号")
	}
	if err := canSee(ctx, s.db, v, userID); err != nil {
		return "", err
	}
	var sealed []byte
	err := s.db.GetContext(ctx, &sealed, `SELECT phone FROM identities
WHERE id = $1 AND kind = 'phone' AND user_id = identity_resolve($2)`, identityID, userID)
	if err != nil {
		return "", notFound(err, "手机号")
	}
	phone, err := s.pii.OpenString("identities.phone", sealed)
	if err != nil {
		return "", fmt.Errorf("console: open phone: %w", err)
	}
	err = s.audit.Record(ctx, v.audit("phone_revealed", "marketing_user", strconv.FormatInt(userID, 10),
		map[string]any{"identity_id": identityID}))
	if err != nil {
		return "", err
	}
	return phone, nil
}
