package services

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
	"golang.org/x/time/rate"
)

// observation builds what the identity engine links for a submission: the
// WeChat ids, the phone and the attributed chat's external_userid, with the
// form_submitted moment on the strongest of them.
func (s *SubmissionService) observation(c checked, in SubmissionInput, publicID string, at time.Time) Observation {
	o := Observation{Source: "form", Ref: "form:" + strconv.FormatInt(c.form.ID, 10) + ":" + publicID, OccurredAt: at}
	add := func(kind IdentityKind, scope, key string, verified bool) {
		if key != "" {
			o.Identities = append(o.Identities, IdentityInput{Kind: kind, Scope: scope, Key: key, Verified: verified})
		}
	}
	add(KindOAOpenID, in.OAAppID, in.OAOpenID, false)
	add(KindMPOpenID, in.MPAppID, in.MPOpenID, false)
	add(KindUnionID, "", in.UnionID, false)
	add(KindPhone, "", c.e164, c.verified)
	if c.attr.ExternalUserID != "" && c.attr.CorpID != "" {
		add(KindExternalUserID, c.attr.CorpID, c.attr.ExternalUserID, false)
	}
	o.Moments = []MomentInput{{Identity: 0, Kind: "form_submitted", Channel: "form",
		EmployeeUserID: c.attr.EmployeeUserID, Title: c.form.Title, Detail: s.momentDetail(c, publicID),
		DedupKey: "form_submitted:" + strconv.FormatInt(c.form.ID, 10) + ":" + in.Token}}
	return o
}

// momentDetail carries the submission's reference, its attribution and the
// answers sealed (personal data: only a holder of the key reads them).
func (s *SubmissionService) momentDetail(c checked, publicID string) json.RawMessage {
	answers, _ := json.Marshal(c.answers)
	d, _ := json.Marshal(map[string]any{
		"form_id": c.form.ID, "form_slug": c.form.Slug, "submission": publicID,
		"channel": c.attr.Channel, "external_userid": c.attr.ExternalUserID, "utm": c.utm,
		"phone_verified": c.verified, "answers_sealed": s.box.Seal(momentAnswersColumn, answers),
	})
	return d
}

// riskFlags flags a burst of different phones from one IP (10 minutes) or
// one openid (an hour); the flags are shown to admins, nothing is refused.
// Placeholders: $22 phone_key, $26 time, $32 oa_openid, $36 ip.
const riskFlags = `ARRAY(SELECT v.flag FROM (VALUES
    ('ip_burst', $36 <> '' AND (SELECT count(DISTINCT r.phone_key) FROM (SELECT phone_key FROM form_submissions
        WHERE ip = $36 AND ip <> '' AND created_at > $26::timestamptz - interval '10 minutes'
        ORDER BY created_at DESC LIMIT 20) r WHERE r.phone_key <> $22) >= 3),
    ('openid_burst', $32 <> '' AND (SELECT count(DISTINCT r.phone_key) FROM (SELECT phone_key FROM form_submissions
        WHERE oa_openid = $32 AND oa_openid <> '' AND created_at > $26::timestamptz - interval '1 hour'
        ORDER BY created_at DESC LIMIT 20) r WHERE r.phone_key <> $22) >= 2)
  ) v(flag, hit) WHERE v.hit)`

// insertSubmission links and inserts in one statement (one round trip):
// identity_link runs as the FROM of the INSERT. Risk flags are computed from
// the recent rows of the same IP and the same openid.
const insertSubmission = `INSERT INTO form_submissions (form_id, user_id, dedupe_key, public_id, phone, phone_key,
phone_verified, answers, consent_version, consented_at, channel, employee_userid, external_userid, material_id, utm,
oa_openid, unionid, mp_openid, source, ip, risk)
SELECT $18, l.user_id, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36,
  ` + riskFlags + `
FROM identity_link($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) l
ON CONFLICT (form_id, dedupe_key) DO NOTHING
RETURNING id, user_id, public_id, risk, created_at`

// baselineSubmission is the benchmark's yardstick: the same rows without
// the link (a new user, its identities, the submission), one statement.
var baselineSubmission = `WITH u AS (INSERT INTO marketing_users (n_identities, n_phones)
  VALUES (cardinality($3::text[]), 1) RETURNING id),
i AS (INSERT INTO identities (user_id, kind, scope, key, phone, verified, first_seen, last_seen)
  SELECT u.id, x.k, x.s, x.v, nullif(x.p, ''::bytea), x.vf, $14, $14 FROM u, unnest($1::text[], $2::text[],
  $3::text[], $4::bytea[], $5::boolean[]) AS x(k, s, v, p, vf) ON CONFLICT DO NOTHING)
INSERT INTO form_submissions (form_id, user_id, dedupe_key, public_id, phone, phone_key,
phone_verified, answers, consent_version, consented_at, channel, employee_userid, external_userid, material_id, utm,
oa_openid, unionid, mp_openid, source, ip, risk)
SELECT $6, u.id, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
  ` + baselineRisk + ` FROM u
ON CONFLICT (form_id, dedupe_key) DO NOTHING
RETURNING id, user_id, public_id, risk, created_at`

// baselineRisk is riskFlags with the baseline's placeholders.
var baselineRisk = strings.NewReplacer("$22", "$10", "$26", "$14", "$32", "$20", "$36", "$24").Replace(riskFlags)

// insert stores a checked submission. A zero ID means the token was used.
func (s *SubmissionService) insert(ctx context.Context, c checked, in SubmissionInput) (Submission, error) {
	at := s.now()
	publicID := newPublicID()
	a, err := s.ids.prepare(ctx, s.observation(c, in, publicID, at))
	if err != nil {
		return Submission{}, err
	}
	answers, _ := json.Marshal(c.answers)
	utm, _ := json.Marshal(c.utm)
	row := []any{c.form.ID, in.Token, publicID, s.box.SealString("form_submissions.phone", c.e164), c.phoneKey,
		c.verified, s.box.Seal("form_submissions.answers", answers), c.consentV, at, c.attr.Channel,
		c.attr.EmployeeUserID, c.attr.ExternalUserID, c.attr.MaterialID, utm, in.OAOpenID, in.UnionID, in.MPOpenID,
		sourceOf(in), in.IP}
	ids := []any{pq.Array(a.kinds), pq.Array(a.scopes), pq.Array(a.keys), a.phones, pq.Array(a.verified)}
	q, args := baselineSubmission, append(ids, row...)
	if !s.cfg.BaselineInsert {
		q, args = insertSubmission, append(append(ids, pq.Array(a.attrs), a.source, a.ref, a.at,
			pq.Array(a.mIdx), pq.Array(a.mKinds), pq.Array(a.mAt), pq.Array(a.mCh), pq.Array(a.mEmp),
			pq.Array(a.mTitle), pq.Array(a.mDet), pq.Array(a.mDedup)), row...)
	}
	sub := Submission{FormID: c.form.ID, PhoneVerified: c.verified, ConsentVersion: c.consentV, ConsentedAt: at}
	stmt, err := s.stmts.get(ctx, s.db, q)
	if err != nil {
		return Submission{}, fmt.Errorf("submissions: prepare: %w", err)
	}
	rows, err := stmt.QueryxContext(ctx, args...)
	if err != nil {
		return Submission{}, fmt.Errorf("submissions: insert: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&sub.ID, &sub.UserID, &sub.PublicID, &sub.Risk, &sub.CreatedAt); err != nil {
			return Submission{}, fmt.Errorf("submissions: insert: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return Submission{}, fmt.Errorf("submissions: insert: %w", err)
	}
	return sub, nil
}

func sourceOf(in SubmissionInput) string {
	switch {
	case in.Source != "":
		return in.Source
	case in.MPOpenID != "":
		return SourceMP
	case in.OAOpenID != "":
		return SourceWeChat
	}
	return SourceWeb
}

// keyedLimiter is a token bucket per key (a phone's blind index), in memory:
// it protects against bursts on one instance; SQL counts would be needed for
// limits that must hold across instances.
type keyedLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*limitBucket
	lastGC  time.Time
}

type limitBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyedLimiter(interval time.Duration, burst int) *keyedLimiter {
	return &keyedLimiter{every: rate.Every(interval), burst: burst, buckets: map[string]*limitBucket{}}
}

// Allow reports whether one more event for key is allowed now.
func (l *keyedLimiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.lastGC) > 10*time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > time.Hour {
				delete(l.buckets, k)
			}
		}
		l.lastGC = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &limitBucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
