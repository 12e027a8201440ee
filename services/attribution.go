package services

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Attribution says who brought a person to a form: the channel, the
// employee who sent the link, the material (form) and, when sent from the
// sidebar, the chat's external_userid. It only ever comes from a token this
// app signed.
type Attribution struct {
	Channel        string `json:"c,omitempty"` // e.g. sidebar, welcome, oa_menu, template, live
	EmployeeUserID string `json:"e,omitempty"`
	MaterialID     string `json:"m"` // the form's slug
	ExternalUserID string `json:"x,omitempty"`
	CorpID         string `json:"k,omitempty"` // scope of ExternalUserID
	ExpiresAt      int64  `json:"t"`           // unix seconds
}

// Attributor signs and verifies attribution tokens with an HMAC key derived
// for this purpose (pii.DeriveKey(master, "attribution")).
type Attributor struct {
	key []byte
	now func() time.Time
}

// NewAttributor returns an Attributor with the key.
func NewAttributor(key []byte) *Attributor {
	return &Attributor{key: key, now: time.Now}
}

// attributionMACLen is the kept HMAC-SHA256 prefix: 128 bits.
const attributionMACLen = 16

// maxAttributionToken bounds what Verify even looks at.
const maxAttributionToken = 600

// Sign returns the token for a (its ExpiresAt is set from ttl).
func (a *Attributor) Sign(at Attribution, ttl time.Duration) string {
	at.ExpiresAt = a.now().Add(ttl).Unix()
	body, _ := json.Marshal(at)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(a.mac(payload))
}

func (a *Attributor) mac(payload string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("attribution.v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)[:attributionMACLen]
}

// Verify returns the attribution of a token for the form slug. A tampered,
// expired, malformed or foreign (other form) token gives ok == false: it is
// ignored, never trusted, and never an error for the person who opened it.
func (a *Attributor) Verify(token, slug string) (Attribution, bool) {
	if token == "" || len(token) > maxAttributionToken {
		return Attribution{}, false
	}
	payload, sig, found := strings.Cut(token, ".")
	if !found {
		return Attribution{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.mac(payload)) {
		return Attribution{}, false
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Attribution{}, false
	}
	var at Attribution
	if json.Unmarshal(body, &at) != nil || at.MaterialID != slug || a.now().Unix() >= at.ExpiresAt {
		return Attribution{}, false
	}
	return at, true
}

// AttributedLink is what the sidebar sends: the form's URL carrying a signed
// attribution token (parameter "a") and the given UTM parameters.
//
// baseURL is the app's public URL (BASE_URL). Keys of utm other than
// utm_source, utm_medium, utm_campaign, utm_term and utm_content are dropped.
func (a *Attributor) AttributedLink(baseURL string, f Form, at Attribution, ttl time.Duration, utm map[string]string) string {
	at.MaterialID = f.Slug
	q := url.Values{"a": {a.Sign(at, ttl)}}
	for k, v := range utm {
		if isUTM(k) && v != "" {
			q.Set(k, v)
		}
	}
	return strings.TrimRight(baseURL, "/") + "/f/" + f.Slug + "?" + q.Encode()
}

// UTMKeys are the campaign parameters kept with a submission.
var UTMKeys = []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"}

func isUTM(k string) bool {
	for _, u := range UTMKeys {
		if k == u {
			return true
		}
	}
	return false
}

// maxUTMLen bounds one UTM value.
const maxUTMLen = 200

// CleanUTM keeps the known UTM parameters, each cut to a sane length.
func CleanUTM(in map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range UTMKeys {
		v := strings.TrimSpace(in[k])
		if v == "" {
			continue
		}
		if r := []rune(v); len(r) > maxUTMLen {
			v = string(r[:maxUTMLen])
		}
		out[k] = v
	}
	return out
}
