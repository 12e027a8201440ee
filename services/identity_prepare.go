package services

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// prepare validates and normalises an observation into identity_link's
// arguments: keys normalised (phones sealed and blind-indexed), blocked values
// removed, duplicates folded, strongest first, moments mapped onto positions.
func (s *IdentityService) prepare(ctx context.Context, o Observation) (linkArgs, error) {
	if len(o.Identities) == 0 {
		return linkArgs{}, Invalid("没有可关联的标识", map[string]string{"identities": "至少需要一个标识"})
	}
	if len(o.Identities) > maxObservationIdentities {
		return linkArgs{}, Invalid("标识过多", map[string]string{"identities": fmt.Sprintf("最多 %d 个", maxObservationIdentities)})
	}
	blocked, err := s.blocklist(ctx)
	if err != nil {
		return linkArgs{}, err
	}
	a := linkArgs{source: o.Source, ref: o.Ref, at: o.OccurredAt, posOf: make([]int, len(o.Identities))}
	if a.at.IsZero() {
		a.at = s.now()
	}
	seen := map[string]int{}
	for _, p := range sortByStrength(o.Identities, o.Verified) {
		in := o.Identities[p]
		key, phone, plain, err := s.normalizeKey(in)
		if err != nil {
			return linkArgs{}, err
		}
		if isBlocked(blocked, in.Kind, plain) {
			a.blocked = append(a.blocked, p)
			continue
		}
		verified := in.Verified || (o.Verified && in.Kind == KindPhone)
		id := string(in.Kind) + "\x1f" + in.Scope + "\x1f" + key
		if j, ok := seen[id]; ok {
			a.verified[j-1] = a.verified[j-1] || verified
			a.posOf[p] = j
			continue
		}
		a.kinds = append(a.kinds, string(in.Kind))
		a.scopes = append(a.scopes, in.Scope)
		a.keys = append(a.keys, key)
		a.phones = append(a.phones, phone)
		a.verified = append(a.verified, verified)
		a.attrs = append(a.attrs, attrsJSON(in.Attrs))
		seen[id] = len(a.keys)
		a.posOf[p] = len(a.keys)
	}
	if len(a.keys) == 0 {
		return linkArgs{}, Invalid("标识在屏蔽列表中", map[string]string{"identities": "标识在屏蔽列表中，不会关联"})
	}
	return a, s.prepareMoments(&a, o)
}

// prepareMoments validates the observation's moments into a's m* arrays.
// A moment on a blocked identity is kept on the strongest identity.
func (s *IdentityService) prepareMoments(a *linkArgs, o Observation) error {
	for i, m := range o.Moments {
		if m.Identity < 0 || m.Identity >= len(o.Identities) {
			return Invalid("动态的标识不存在", map[string]string{fmt.Sprintf("moments[%d]", i): "identity 超出范围"})
		}
		j := a.posOf[m.Identity]
		if j == 0 {
			j = 1
		}
		if m.OccurredAt.IsZero() {
			m.OccurredAt = a.at
		}
		if err := m.validate(); err != nil {
			return err
		}
		if m.DedupKey == "" {
			in := o.Identities[m.Identity]
			m.DedupKey = defaultDedupKey(in.Kind, in.Scope, a.keys[j-1], m, o)
		}
		a.mIdx = append(a.mIdx, int64(j))
		a.mKinds = append(a.mKinds, string(m.Kind))
		a.mAt = append(a.mAt, m.OccurredAt.UTC().Format(time.RFC3339Nano))
		a.mCh = append(a.mCh, m.Channel)
		a.mEmp = append(a.mEmp, m.EmployeeUserID)
		a.mTitle = append(a.mTitle, m.Title)
		a.mDet = append(a.mDet, m.detailJSON())
		a.mDedup = append(a.mDedup, m.DedupKey)
	}
	return nil
}

// junkValues never link, whatever the kind.
var junkValues = map[string]bool{"null": true, "undefined": true, "nil": true, "none": true,
	"anonymous": true, "unknown": true, "test": true, "-1": true, "nan": true}

// isBlocked applies the built-in junk rules and the configured blocklist to a
// normalised value.
func isBlocked(list map[string]bool, kind IdentityKind, plain string) bool {
	if kind == KindPhone {
		return junkPhone(plain) || list["phone\x1f"+plain] || list["\x1f"+plain]
	}
	low := strings.ToLower(strings.TrimSpace(plain))
	if junkValues[low] || strings.Trim(low, "0-") == "" {
		return true
	}
	return list[string(kind)+"\x1f"+low] || list["\x1f"+low]
}

// blocklist returns the configured blocklist, cached for blocklistTTL.
func (s *IdentityService) blocklist(ctx context.Context) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked != nil && s.now().Sub(s.blockedAt) < blocklistTTL {
		return s.blocked, nil
	}
	var rows []struct {
		Kind  string `db:"kind"`
		Value string `db:"value"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT kind, value FROM identity_blocklist`); err != nil {
		return nil, fmt.Errorf("identities: blocklist: %w", err)
	}
	m := make(map[string]bool, len(rows))
	for _, r := range rows {
		v := r.Value
		if r.Kind != string(KindPhone) {
			v = strings.ToLower(v)
		}
		m[r.Kind+"\x1f"+v] = true
	}
	s.blocked, s.blockedAt = m, s.now()
	return m, nil
}

// BlockValue adds a value to the blocklist (kind "" for every kind). Phones
// are normalised first. Errors: EINVALID.
func (s *IdentityService) BlockValue(ctx context.Context, kind IdentityKind, value, note string) error {
	if kind == KindPhone {
		e164, err := NormalizePhone(value)
		if err != nil {
			return err
		}
		value = e164
	} else if kind != "" && !kind.Valid() {
		return Invalid("未知的标识类型", map[string]string{"kind": "未知的标识类型"})
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO identity_blocklist (kind, value, note) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING`, string(kind), value, note)
	if err != nil {
		return fmt.Errorf("identities: block value: %w", err)
	}
	s.mu.Lock()
	s.blocked = nil
	s.mu.Unlock()
	return nil
}

func (m MomentInput) detailJSON() string {
	if len(m.Detail) == 0 {
		return "{}"
	}
	return string(m.Detail)
}
