package wecom

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// Real hosts, used when a base URL in Config is empty.
const (
	defaultWeComBaseURL = "https://qyapi.weixin.qq.com"
	defaultOABaseURL    = "https://api.weixin.qq.com"
	defaultOAuthBaseURL = "https://open.weixin.qq.com"
	defaultPoolSize     = 4
	defaultHTTPTimeout  = 5 * time.Second
)

// Config holds everything the adapter needs. Secrets stay inside the
// package: they are handed to the SDK and never logged.
type Config struct {
	CorpID  string
	AgentID int
	// AgentSecret is the self-built app's secret; it also serves customer
	// contact when ContactSecret is empty (since 2023-12 new corps must use an
	// app secret for 客户联系 anyway).
	AgentSecret string
	// ContactSecret is the 客户联系 secret, optional.
	ContactSecret string
	// ContactsSyncSecret is the 通讯录同步 secret, optional; user/list_id
	// answers 48002 for any other secret.
	ContactsSyncSecret string
	CallbackToken      string
	CallbackAESKey     string

	OA OAConfig
	MP MPConfig

	// WeComBaseURL, OABaseURL and OAuthBaseURL point the adapter at a
	// simulator; empty means the real hosts. Use one listener per product:
	// WeCom and OA paths collide (/cgi-bin/user/get).
	WeComBaseURL string
	OABaseURL    string // used for both the Official Account and the mini program
	OAuthBaseURL string // host of /connect/oauth2/authorize

	// HTTPTimeout bounds every API call; default 5s.
	HTTPTimeout time.Duration
	// Transport is the base round tripper, default a clone of
	// http.DefaultTransport. Tests may inject one.
	Transport http.RoundTripper
	// PoolSize is the number of SDK app instances kept per secret (see
	// pool.go for why there is more than one); default 4.
	PoolSize int
}

// OAConfig is the Official Account (服务号) part of Config.
type OAConfig struct {
	AppID, Secret, Token, AESKey string
}

// MPConfig is the mini program part of Config.
type MPConfig struct {
	AppID, Secret string
}

func (c Config) validate() error {
	if c.CorpID == "" {
		return errors.New("wecom: config: CorpID is required")
	}
	if c.AgentSecret == "" {
		return errors.New("wecom: config: AgentSecret is required")
	}
	return nil
}

// weComBase returns the WeCom base URL WITHOUT a trailing slash: the SDK
// builds the corp jsapi ticket URL as base + "/cgi-bin/get_jsapi_ticket",
// which turns into "//cgi-bin" with a trailing slash (even with the SDK's own
// default "https://qyapi.weixin.qq.com/"). Relative endpoints resolve the same
// with or without it.
func (c Config) weComBase() string {
	return strings.TrimRight(orDefault(c.WeComBaseURL, defaultWeComBaseURL), "/")
}

// oaBase returns the OA/MP base URL WITH a trailing slash: the SDK builds the
// OA and MP token URL as base + "cgi-bin/token" by string concatenation.
func (c Config) oaBase() string {
	return strings.TrimRight(orDefault(c.OABaseURL, defaultOABaseURL), "/") + "/"
}

func (c Config) oauthBase() string {
	return strings.TrimRight(orDefault(c.OAuthBaseURL, defaultOAuthBaseURL), "/")
}

func (c Config) timeout() time.Duration {
	if c.HTTPTimeout > 0 {
		return c.HTTPTimeout
	}
	return defaultHTTPTimeout
}

func (c Config) poolSize() int {
	if c.PoolSize > 0 {
		return c.PoolSize
	}
	return defaultPoolSize
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
