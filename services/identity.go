package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/pii"
)

// IdentityKind is the kind of an identity key.
type IdentityKind string

// Identity kinds. Scoped kinds carry the issuing app, corp or system in Scope.
const (
	KindPhone          IdentityKind = "phone"                 // E.164; stored sealed, looked up by blind index
	KindUnionID        IdentityKind = "unionid"               // WeChat Open Platform unionid
	KindOAOpenID       IdentityKind = "oa_openid"             // scope: Official Account appid
	KindMPOpenID       IdentityKind = "mp_openid"             // scope: mini-program appid
	KindExternalUserID IdentityKind = "wecom_external_userid" // scope: corp id
	KindPendingID      IdentityKind = "wecom_pending_id"      // scope: corp id
	KindCRMLead        IdentityKind = "crm_lead"
	KindCRMContact     IdentityKind = "crm_contact"
	KindCRMAccount     IdentityKind = "crm_account"
	KindMember         IdentityKind = "member" // scope: source system
)

// IdentityKinds lists every kind, strongest first.
var IdentityKinds = []IdentityKind{KindUnionID, KindOAOpenID, KindMPOpenID, KindExternalUserID, KindPendingID,
	KindPhone, KindMember, KindCRMContact, KindCRMLead, KindCRMAccount}

// Valid reports whether k is a known kind.
func (k IdentityKind) Valid() bool {
	for _, x := range IdentityKinds {
		if k == x {
			return true
		}
	}
	return false
}

// strength orders the keys of an observation: the group forms around the
// strongest. unionid > platform ids > verified phone > member id > CRM ids >
// unverified phone (issue 3's order, platform-issued ids ranked with unionid).
func strength(k IdentityKind, verified bool) int {
	switch k {
	case KindUnionID:
		return 60
	case KindOAOpenID, KindMPOpenID, KindExternalUserID, KindPendingID:
		return 50
	case KindPhone:
		if verified {
			return 40
		}
		return 10
	case KindMember:
		return 30
	default:
		return 20
	}
}

// Link outcomes.
const (
	OutcomeCreated  = "created"  // a new marketing user
	OutcomeAttached = "attached" // joined (or re-seen on) one existing user
	OutcomeMerged   = "merged"   // two or more existing users were merged
	OutcomeConflict = "conflict" // a rule refused a merge; conflicts were recorded
)

// Attributes are the descriptive fields of an identity. Later observations
// add to them; empty fields are not stored.
type Attributes struct {
	Name        string `json:"name,omitempty"`
	Nickname    string `json:"nickname,omitempty"`
	Avatar      string `json:"avatar,omitempty"`
	Company     string `json:"company,omitempty"`
	Source      string `json:"source,omitempty"`
	MemberLevel string `json:"member_level,omitempty"`
}

// IdentityInput is one identity seen in an observation. Key is the plain id,
// or for KindPhone the number as typed (normalised by Link).
type IdentityInput struct {
	Kind     IdentityKind
	Scope    string
	Key      string
	Verified bool // phones: verified by the mini-program phone API, an SMS code or the CRM
	Attrs    Attributes
}

// Observation is a set of identities seen together, with its evidence and
// optionally the moments observed on them. Forms, callbacks, sync, the
// sidebar and the CRM API all go through Link with one.
type Observation struct {
	Source     string    // form, wecom, oa, mp, crm, sync, sidebar, manual
	Ref        string    // e.g. form id and submission id, callback event id, CRM record id
	OccurredAt time.Time // zero: now
	// Verified marks every phone of the observation verified.
	Verified   bool
	Identities []IdentityInput
	Moments    []MomentInput
}

// LinkResult is what Link did.
type LinkResult struct {
	UserID  int64
	Outcome string
	// IdentityIDs are aligned with Observation.Identities; 0 for blocked ones.
	IdentityIDs []int64
	ConflictIDs []int64
	MergedFrom  []int64 // users absorbed by this link
	Blocked     []int   // positions of identities refused as blocked values
}

// IdentityService links identities into marketing users and answers lookups.
//
// Invariants (enforced by the schema): a key belongs to one identity, an
// identity to exactly one live user, a user owns at most one unionid.
type IdentityService struct {
	db  *sqlx.DB
	pii *pii.Box
	now func() time.Time

	mu        sync.Mutex
	blocked   map[string]bool // "kind\x1fvalue"
	blockedAt time.Time
	stmts     stmtCache
}

// NewIdentityService returns the service.
func NewIdentityService(db *sqlx.DB, box *pii.Box) *IdentityService {
	return &IdentityService{db: db, pii: box, now: time.Now}
}

// blocklistTTL is how long the configured blocklist is cached.
const blocklistTTL = 30 * time.Second

// maxObservationIdentities bounds one observation.
const maxObservationIdentities = 50

// linkArgs are the parallel arrays identity_link takes.
type linkArgs struct {
	kinds, scopes, keys []string
	phones              pq.ByteaArray
	verified            []bool
	attrs               []string
	posOf               []int // caller's position → 1-based argument index, 0 when blocked
	blocked             []int
	mIdx                []int64
	mKinds, mAt, mCh    []string
	mEmp, mTitle, mDet  []string
	mDedup              []string
	source, ref         string
	at                  time.Time
}

// Link links an observation: it creates, attaches or merges marketing users
// under the merge rules and records the given moments, in one statement.
// Errors: EINVALID (bad kind, key, phone, moment; or only blocked values).
func (s *IdentityService) Link(ctx context.Context, o Observation) (LinkResult, error) {
	a, err := s.prepare(ctx, o)
	if err != nil {
		return LinkResult{}, err
	}
	return s.link(ctx, s.db, a, len(o.Identities))
}

// LinkBatch links observations one after another (each in its own
// transaction, so one bad record does not undo the others) and returns a
// result or an error per observation.
func (s *IdentityService) LinkBatch(ctx context.Context, obs []Observation) ([]LinkResult, []error) {
	res := make([]LinkResult, len(obs))
	errs := make([]error, len(obs))
	for i, o := range obs {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		res[i], errs[i] = s.Link(ctx, o)
	}
	return res, errs
}

const linkQuery = `SELECT user_id, outcome, identity_ids, conflict_ids, merged_from
FROM identity_link($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

// link runs identity_link on q (the pool or a transaction). The statement is
// prepared once: lib/pq sends an unprepared query in two round trips (parse,
// then bind/execute), and the link's whole point is one round trip.
func (s *IdentityService) link(ctx context.Context, q sqlx.QueryerContext, a linkArgs, n int) (LinkResult, error) {
	var r LinkResult
	var ids, conflicts, merged pq.Int64Array
	st, err := s.prepared(ctx, linkQuery)
	if err != nil {
		return LinkResult{}, err
	}
	if tx, ok := q.(*sqlx.Tx); ok {
		st = tx.StmtxContext(ctx, st)
	}
	for attempt := 0; attempt < 8; attempt++ {
		err = st.QueryRowxContext(ctx,
			pq.Array(a.kinds), pq.Array(a.scopes), pq.Array(a.keys), a.phones, pq.Array(a.verified),
			pq.Array(a.attrs), a.source, a.ref, a.at,
			pq.Array(a.mIdx), pq.Array(a.mKinds), pq.Array(a.mAt), pq.Array(a.mCh), pq.Array(a.mEmp),
			pq.Array(a.mTitle), pq.Array(a.mDet), pq.Array(a.mDedup),
		).Scan(&r.UserID, &r.Outcome, &ids, &conflicts, &merged)
		if !retryable(err) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	if err != nil {
		return LinkResult{}, fmt.Errorf("identities: link: %w", err)
	}
	r.IdentityIDs = make([]int64, n)
	for p, j := range a.posOf {
		if j > 0 {
			r.IdentityIDs[p] = ids[j-1]
		}
	}
	r.ConflictIDs, r.MergedFrom, r.Blocked = conflicts, merged, a.blocked
	return r, nil
}

// retryable reports a deadlock or serialisation failure; the link retries.
func retryable(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// normalizeKey checks and normalises one identity key.
func (s *IdentityService) normalizeKey(in IdentityInput) (key string, phone []byte, e164 string, err error) {
	if !in.Kind.Valid() {
		return "", nil, "", Invalid("未知的标识类型", map[string]string{"kind": "未知的标识类型 " + string(in.Kind)})
	}
	if in.Kind == KindPhone {
		e164, err = NormalizePhone(in.Key)
		if err != nil {
			return "", nil, "", err
		}
		return hex.EncodeToString(s.pii.BlindIndex("phone", e164)), s.pii.SealString("identities.phone", e164), e164, nil
	}
	key = strings.TrimSpace(in.Key)
	if key == "" || len(key) > 128 || strings.IndexFunc(key, unicode.IsControl) >= 0 {
		return "", nil, "", Invalid("标识格式不正确", map[string]string{string(in.Kind): "标识格式不正确"})
	}
	if (in.Kind == KindOAOpenID || in.Kind == KindMPOpenID) && in.Scope == "" {
		return "", nil, "", Invalid("openid 需要 appid", map[string]string{"appid": "openid 需要 appid"})
	}
	return key, nil, key, nil
}

// PhoneKey returns the lookup key of a phone number (the hex blind index of
// its E.164 form). Errors: EINVALID.
func (s *IdentityService) PhoneKey(phone string) (string, error) {
	e164, err := NormalizePhone(phone)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(s.pii.BlindIndex("phone", e164)), nil
}

// defaultDedupKey derives a moment's dedup key from what identifies it, so a
// replayed observation records nothing twice.
func defaultDedupKey(kind IdentityKind, scope, key string, m MomentInput, o Observation) string {
	h := sha256.New()
	for _, part := range []string{string(kind), scope, key, string(m.Kind), m.OccurredAt.UTC().Format(time.RFC3339Nano),
		o.Source, o.Ref, m.Title} {
		h.Write([]byte(part))
		h.Write([]byte{0x1f})
	}
	return "auto:" + hex.EncodeToString(h.Sum(nil)[:16])
}

func attrsJSON(a Attributes) string {
	b, _ := json.Marshal(a)
	return string(b)
}

// sortByStrength returns the positions of ids ordered strongest first.
func sortByStrength(ids []IdentityInput, verified bool) []int {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		a, b := ids[order[x]], ids[order[y]]
		return strength(a.Kind, a.Verified || verified) > strength(b.Kind, b.Verified || verified)
	})
	return order
}

// isForeignKeyViolation reports whether err is a PostgreSQL foreign_key_violation.
func isForeignKeyViolation(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23503"
}
