package sandbox

import (
	"time"
)

// Token owners: which credential minted an access token.
const (
	ownerAgent   = "agent"   // WeCom self-built app secret
	ownerContact = "contact" // WeCom 通讯录同步 secret
	ownerOA      = "oa"
	ownerMP      = "mp"
	ownerSNS     = "sns" // OA web OAuth access token (per person)
)

// token is an access token. WeCom tokens are reused until they expire; an OA
// token is superseded by the next /cgi-bin/token call and then lives
// OATokenOverlap more (wechat-protocol.md §3.1, §4.1).
type token struct {
	Value        string    `json:"value"`
	Owner        string    `json:"owner"`
	ExpiresAt    time.Time `json:"expires_at"`
	SupersededAt time.Time `json:"superseded_at,omitzero"`
	Revoked      bool      `json:"revoked,omitempty"`
	PersonID     string    `json:"person_id,omitempty"` // sns tokens
	Scope        string    `json:"scope,omitempty"`     // sns tokens
}

// ticket is a JS-SDK ticket: kind "jsapi" (corp) or "agent_config".
type ticket struct {
	Value     string    `json:"value"`
	Kind      string    `json:"kind"`
	ExpiresAt time.Time `json:"expires_at"`
}

// code is a single-use code: WeCom/OA OAuth, mini-program login or phone.
type code struct {
	Value     string    `json:"value"`
	Kind      string    `json:"kind"`    // wecom_oauth, oa_oauth, mp_login, mp_phone
	Subject   string    `json:"subject"` // employee userid or person id
	Employee  bool      `json:"employee,omitempty"`
	Scope     string    `json:"scope,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	Used      bool      `json:"used,omitempty"`
}

// welcome is a welcome_code minted by an add_external_contact event.
type welcome struct {
	Code           string    `json:"code"`
	UserID         string    `json:"userid"`
	ExternalUserID string    `json:"external_userid"`
	ExpiresAt      time.Time `json:"expires_at"`
	Used           bool      `json:"used,omitempty"`
}

// wecomToken returns the live token of owner or mints one: "有效期内重复获取返回相同结果".
func (s *Sandbox) wecomToken(owner string) *token {
	now := s.now()
	for _, t := range s.w.Tokens {
		if t.Owner == owner && !t.Revoked && now.Before(t.ExpiresAt) {
			return t
		}
	}
	return s.mintToken(owner, s.opts.TokenTTL)
}

// oaToken mints a new OA/MP token and supersedes the previous ones.
func (s *Sandbox) oaToken(owner string) *token {
	now := s.now()
	for _, t := range s.w.Tokens {
		if t.Owner == owner && t.SupersededAt.IsZero() {
			t.SupersededAt = now
		}
	}
	return s.mintToken(owner, s.opts.TokenTTL)
}

func (s *Sandbox) mintToken(owner string, ttl time.Duration) *token {
	s.pruneTokens()
	t := &token{Value: s.w.newID("token", "", 86), Owner: owner, ExpiresAt: s.now().Add(ttl)}
	s.w.Tokens[t.Value] = t
	return t
}

// pruneTokens forgets tokens dead for a day so the map stays small; a
// forgotten token then answers 40014 like any unknown one.
func (s *Sandbox) pruneTokens() {
	cutoff := s.now().Add(-24 * time.Hour)
	for k, t := range s.w.Tokens {
		if t.ExpiresAt.Before(cutoff) {
			delete(s.w.Tokens, k)
		}
	}
}

// checkToken maps an access_token to the WeCom/OA errcode it deserves:
// missing 41001, unknown or revoked 40014, expired 42001, superseded OA token
// past the overlap 40001, a token of another app 40014 (WeCom) / 48001 (OA).
func (s *Sandbox) checkToken(value string, owners ...string) (*token, *apiError) {
	if value == "" {
		return nil, errMissingToken()
	}
	t := s.w.Tokens[value]
	if t == nil || t.Revoked {
		return nil, errInvalidToken()
	}
	now := s.now()
	if !t.SupersededAt.IsZero() && now.After(t.SupersededAt.Add(s.opts.OATokenOverlap)) {
		return nil, errNotLatestToken()
	}
	if !now.Before(t.ExpiresAt) {
		return nil, errExpiredToken()
	}
	for _, o := range owners {
		if t.Owner == o {
			return t, nil
		}
	}
	if t.Owner == ownerOA || t.Owner == ownerMP {
		return nil, errUnauthorized()
	}
	return nil, errInvalidToken()
}

// jsTicket returns the live ticket of kind or mints one.
func (s *Sandbox) jsTicket(kind string) *ticket {
	now := s.now()
	for _, t := range s.w.Tickets {
		if t.Kind == kind && now.Before(t.ExpiresAt) {
			return t
		}
	}
	for k, t := range s.w.Tickets {
		if t.Kind == kind && now.After(t.ExpiresAt.Add(s.opts.TokenTTL)) {
			delete(s.w.Tickets, k)
		}
	}
	t := &ticket{Value: s.w.newID("ticket", "", 86), Kind: kind, ExpiresAt: now.Add(s.opts.TokenTTL)}
	s.w.Tickets[t.Value] = t
	return t
}

// ExpireTokens makes every access token expire now: the next business call
// answers 42001 and gettoken mints a new one.
func (s *Sandbox) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.w.Tokens {
		if t.ExpiresAt.After(now) {
			t.ExpiresAt = now
		}
	}
	s.touch()
}

// RevokeTokens revokes every access token: business calls answer 40014.
func (s *Sandbox) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.w.Tokens {
		t.Revoked = true
	}
	s.touch()
}

// newCode mints a single-use code valid CodeTTL.
func (s *Sandbox) newCode(kind, subject string, employee bool, scope string) string {
	now := s.now()
	for k, c := range s.w.Codes {
		if now.After(c.ExpiresAt.Add(time.Hour)) {
			delete(s.w.Codes, k)
		}
	}
	c := &code{Value: s.w.newID("code", "", 32), Kind: kind, Subject: subject, Employee: employee,
		Scope: scope, ExpiresAt: now.Add(s.opts.CodeTTL)}
	s.w.Codes[c.Value] = c
	return c.Value
}

// useCode consumes a code of kind; unknown/expired → 40029, used → usedErr.
func (s *Sandbox) useCode(value, kind string, usedErr *apiError) (*code, *apiError) {
	c := s.w.Codes[value]
	if c == nil || c.Kind != kind || !s.now().Before(c.ExpiresAt) {
		return nil, errInvalidCode()
	}
	if c.Used {
		return nil, usedErr
	}
	c.Used = true
	return c, nil
}
