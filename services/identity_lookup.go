package services

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// MarketingUser is one person as the product knows them.
type MarketingUser struct {
	ID          int64     `db:"id"`
	NIdentities int       `db:"n_identities"`
	NPhones     int       `db:"n_phones"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
	// RequestedID is the id asked for when it was absorbed into ID, else 0.
	RequestedID int64 `db:"-"`
}

// Identity is an identity of a marketing user with the evidence that linked it.
type Identity struct {
	ID       int64        `db:"id"`
	UserID   int64        `db:"user_id"`
	Kind     IdentityKind `db:"kind"`
	Scope    string       `db:"scope"`
	Key      string       `db:"key"` // the blind index for phones
	Phone    string       `db:"-"`   // E.164, phones only; mask it before showing it
	Verified bool         `db:"verified"`
	Attrs    Attributes   `db:"-"`
	// SeenWith is the identity this one was first seen with; LinkedKind its kind.
	SeenWith   sql.NullInt64 `db:"seen_with"`
	LinkedKind string        `db:"linked_kind"`
	Evidence
	FirstSeen time.Time `db:"first_seen"`
	LastSeen  time.Time `db:"last_seen"`
}

// identityRow is an Identity as scanned, before the phone is opened.
type identityRow struct {
	Identity
	Sealed   []byte `db:"phone"`
	RawAttrs []byte `db:"attrs"`
}

// Evidence is the observation that brought an identity in.
type Evidence struct {
	Source   string `db:"ev_source"`
	Ref      string `db:"ev_ref"`
	Verified bool   `db:"ev_verified"`
}

// Why says in one line why the identity belongs to its user, for the sidebar:
// e.g. "2026-05-01 表单 f:12 中与 unionid 一同出现".
func (i Identity) Why() string {
	where := i.Evidence.Source
	if i.Evidence.Ref != "" {
		where += " " + i.Evidence.Ref
	}
	s := i.FirstSeen.Format("2006-01-02") + " " + where
	if i.LinkedKind != "" {
		s += " 中与 " + i.LinkedKind + " 一同出现"
	} else {
		s += " 首次出现"
	}
	if i.Kind == KindPhone {
		if i.Evidence.Verified {
			s += "（已验证）"
		} else {
			s += "（未验证）"
		}
	}
	return s
}

// resolve returns the live user behind id. Errors: ENOTFOUND.
func (s *IdentityService) resolve(ctx context.Context, id int64) (int64, error) {
	var live sql.NullInt64
	if err := s.db.GetContext(ctx, &live, `SELECT identity_resolve($1)`, id); err != nil {
		return 0, fmt.Errorf("identities: resolve: %w", err)
	}
	if !live.Valid {
		return 0, Errorf(ENOTFOUND, "营销用户不存在")
	}
	return live.Int64, nil
}

// FindUserByID returns the marketing user, following merges: an absorbed id
// answers its survivor. Errors: ENOTFOUND.
func (s *IdentityService) FindUserByID(ctx context.Context, id int64) (MarketingUser, error) {
	var u MarketingUser
	err := s.db.GetContext(ctx, &u, `SELECT id, n_identities, n_phones, created_at, updated_at
FROM marketing_users WHERE id = identity_resolve($1)`, id)
	if err != nil {
		return MarketingUser{}, notFound(err, "营销用户")
	}
	if u.ID != id {
		u.RequestedID = id
	}
	return u, nil
}

// FindUserByIdentity returns the user owning the key (kind, scope, key);
// phones are looked up with FindUserByPhone. Errors: EINVALID, ENOTFOUND.
func (s *IdentityService) FindUserByIdentity(ctx context.Context, kind IdentityKind, scope, key string) (MarketingUser, error) {
	if kind == KindPhone {
		return s.FindUserByPhone(ctx, key)
	}
	if !kind.Valid() {
		return MarketingUser{}, Invalid("未知的标识类型", map[string]string{"kind": "未知的标识类型"})
	}
	return s.findByKey(ctx, string(kind), scope, key)
}

// FindUserByPhone returns the user owning the phone (any format NormalizePhone
// accepts). Errors: EINVALID, ENOTFOUND.
func (s *IdentityService) FindUserByPhone(ctx context.Context, phone string) (MarketingUser, error) {
	key, err := s.PhoneKey(phone)
	if err != nil {
		return MarketingUser{}, err
	}
	return s.findByKey(ctx, string(KindPhone), "", key)
}

// AnyScope as the scope of FindUserByIdentity matches the key in any scope
// (e.g. an external_userid when the caller does not name the corp).
const AnyScope = "*"

func (s *IdentityService) findByKey(ctx context.Context, kind, scope, key string) (MarketingUser, error) {
	var us []MarketingUser
	err := s.db.SelectContext(ctx, &us, `SELECT DISTINCT u.id, u.n_identities, u.n_phones, u.created_at, u.updated_at
FROM identities i JOIN marketing_users u ON u.id = i.user_id
WHERE i.kind = $1 AND ($2 = '*' OR i.scope = $2) AND i.key = $3
LIMIT 2`, kind, scope, key)
	switch {
	case err != nil:
		return MarketingUser{}, fmt.Errorf("identities: find: %w", err)
	case len(us) == 0:
		return MarketingUser{}, Errorf(ENOTFOUND, "营销用户不存在")
	case len(us) > 1:
		return MarketingUser{}, Errorf(ECONFLICT, "该标识在多个范围内对应不同的营销用户，请指定范围")
	}
	return us[0], nil
}

// Identities returns the user's identities (phones opened), strongest first,
// each with the evidence that linked it. Errors: ENOTFOUND.
func (s *IdentityService) Identities(ctx context.Context, userID int64) ([]Identity, error) {
	uid, err := s.resolve(ctx, userID)
	if err != nil {
		return nil, err
	}
	var rows []identityRow
	err = s.db.SelectContext(ctx, &rows, `SELECT i.id, i.user_id, i.kind, i.scope, i.key, i.phone, i.verified, i.attrs,
       i.seen_with, coalesce(l.kind, '') AS linked_kind, i.ev_source, i.ev_ref, i.ev_verified, i.first_seen, i.last_seen
FROM identities i LEFT JOIN identities l ON l.id = i.seen_with
WHERE i.user_id = $1 ORDER BY i.id`, uid)
	if err != nil {
		return nil, fmt.Errorf("identities: list: %w", err)
	}
	ids := make([]Identity, len(rows))
	for k := range rows {
		if ids[k], err = s.open(rows[k]); err != nil {
			return nil, err
		}
	}
	order := sortByStrength(toInputs(ids), false)
	out := make([]Identity, len(ids))
	for k, p := range order {
		out[k] = ids[p]
	}
	return out, nil
}

func (s *IdentityService) open(r identityRow) (Identity, error) {
	i := r.Identity
	if len(r.RawAttrs) > 0 {
		_ = json.Unmarshal(r.RawAttrs, &i.Attrs)
	}
	if i.Kind != KindPhone {
		return i, nil
	}
	p, err := s.pii.OpenString("identities.phone", r.Sealed)
	if err != nil {
		return Identity{}, fmt.Errorf("identities: open phone %d: %w", i.ID, err)
	}
	i.Phone = p
	return i, nil
}

func toInputs(ids []Identity) []IdentityInput {
	in := make([]IdentityInput, len(ids))
	for k, i := range ids {
		in[k] = IdentityInput{Kind: i.Kind, Verified: i.Verified}
	}
	return in
}
