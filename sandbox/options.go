package sandbox

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Options configure a sandbox. Every empty field gets a sensible default, and
// fields still empty after loading a snapshot take the snapshot's values, so
// a standalone sandbox keeps its corp id and keys across restarts.
type Options struct {
	Corp        CorpConfig
	Official    OfficialConfig
	MiniProgram MiniProgramConfig
	Listen      ListenConfig

	SnapshotPath string       // optional JSON file loaded at Start and written on Close and after changes
	Logger       *slog.Logger // nil = discard
	Now          func() time.Time
	Seed         uint64 // ids derive from it; 0 = random

	TokenTTL           time.Duration // access tokens and tickets; default 7200 s
	OATokenOverlap     time.Duration // old OA token stays valid after a refresh; default 5 min
	CodeTTL            time.Duration // OAuth / mini-program codes; default 5 min
	WelcomeCodeTTL     time.Duration // default 20 s
	CallbackTimeout    time.Duration // default 5 s
	CallbackRetries    int           // retries after the first attempt; default 3, -1 = none
	CallbackRetryDelay time.Duration // pause between attempts; default 200 ms
	SnapshotInterval   time.Duration // how often dirty state is written; default 2 s
}

// CorpConfig is the simulated WeCom corp with one self-built app.
type CorpConfig struct {
	CorpID         string `json:"corp_id"`   // default ww + 16 hex
	CorpName       string `json:"corp_name"` // default 沙箱科技
	AgentID        int    `json:"agent_id"`  // default 1000002
	AgentSecret    string `json:"agent_secret"`
	ContactSecret  string `json:"contact_secret"` // 通讯录同步 secret
	Token          string `json:"token"`          // callback Token
	EncodingAESKey string `json:"encoding_aes_key"`
	CallbackURL    string `json:"callback_url"` // saved without URL verification when set here
}

// OfficialConfig is the simulated Official Account (服务号).
type OfficialConfig struct {
	AppID          string `json:"app_id"`
	Secret         string `json:"secret"`
	Token          string `json:"token"`
	EncodingAESKey string `json:"encoding_aes_key"`
	OriginalID     string `json:"original_id"` // gh_ + 12 hex
	Mode           string `json:"mode"`        // "plain" or "safe" (default)
	CallbackURL    string `json:"callback_url"`
}

// MiniProgramConfig is the simulated mini program.
type MiniProgramConfig struct {
	AppID  string `json:"app_id"`
	Secret string `json:"secret"`
}

// ListenConfig holds the listen addresses; empty means 127.0.0.1:0.
type ListenConfig struct {
	WeComAPI    string
	OfficialAPI string
	OAuth       string
	Control     string
}

// OA callback modes.
const (
	ModePlain = "plain"
	ModeSafe  = "safe"
)

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		o.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	setDuration(&o.TokenTTL, 7200*time.Second)
	setDuration(&o.OATokenOverlap, 5*time.Minute)
	setDuration(&o.CodeTTL, 5*time.Minute)
	setDuration(&o.WelcomeCodeTTL, 20*time.Second)
	setDuration(&o.CallbackTimeout, 5*time.Second)
	setDuration(&o.CallbackRetryDelay, 200*time.Millisecond)
	setDuration(&o.SnapshotInterval, 2*time.Second)
	if o.CallbackRetries == 0 {
		o.CallbackRetries = 3
	}
	if o.CallbackRetries < 0 {
		o.CallbackRetries = 0
	}
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// fillConfig completes empty credentials from prev (a snapshot), then from
// values drawn from rng, so they are stable for a given seed.
func fillConfig(o *Options, prev snapshotConfig, rng *rand.Rand) {
	c, p := &o.Corp, prev.Corp
	pick(&c.CorpID, p.CorpID, "ww"+hexString(rng, 16))
	pick(&c.CorpName, p.CorpName, "沙箱科技")
	if c.AgentID == 0 {
		c.AgentID = p.AgentID
	}
	if c.AgentID == 0 {
		c.AgentID = 1000002
	}
	pick(&c.AgentSecret, p.AgentSecret, alnum(rng, 43))
	pick(&c.ContactSecret, p.ContactSecret, alnum(rng, 43))
	pick(&c.Token, p.Token, alnum(rng, 16))
	pick(&c.EncodingAESKey, p.EncodingAESKey, alnum(rng, 43))
	pick(&c.CallbackURL, p.CallbackURL, "")
	a, q := &o.Official, prev.Official
	pick(&a.AppID, q.AppID, "wx"+hexString(rng, 16))
	pick(&a.Secret, q.Secret, hexString(rng, 32))
	pick(&a.Token, q.Token, alnum(rng, 16))
	pick(&a.EncodingAESKey, q.EncodingAESKey, alnum(rng, 43))
	pick(&a.OriginalID, q.OriginalID, "gh_"+hexString(rng, 12))
	pick(&a.Mode, q.Mode, ModeSafe)
	pick(&a.CallbackURL, q.CallbackURL, "")
	m, r := &o.MiniProgram, prev.MiniProgram
	pick(&m.AppID, r.AppID, "wx"+hexString(rng, 16))
	pick(&m.Secret, r.Secret, hexString(rng, 32))
}

func pick(dst *string, prev, def string) {
	if *dst == "" {
		*dst = prev
	}
	if *dst == "" {
		*dst = def
	}
}

func (o *Options) validate() error {
	if o.Official.Mode != ModePlain && o.Official.Mode != ModeSafe {
		return fmt.Errorf("sandbox: official mode %q, want plain or safe", o.Official.Mode)
	}
	if o.Corp.AgentSecret == o.Corp.ContactSecret {
		return fmt.Errorf("sandbox: agent and contact secret must differ")
	}
	return nil
}
