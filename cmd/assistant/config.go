package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is the whole configuration, parsed once from the environment.
type Config struct {
	Env            string // "development" or "production"
	Addr           string
	BaseURL        string
	DatabaseURL    string // empty: run the embedded PostgreSQL under DataDir
	RedisURL       string // empty: tokens are cached in PostgreSQL
	DataDir        string
	PGBinDir       string
	TrustedProxies []string
	LogLevel       slog.Level
	LogFormat      string // "json" or "text"
	MaxBodyBytes   int64
	// SessionKey and EncryptionKeys are raw specs; empty means "generate and
	// keep under DataDir" (development only).
	SessionKey     string
	EncryptionKeys string
	// Sandbox is "auto" (demo mode when nothing is connected yet), "on" or
	// "off"; development only.
	Sandbox string
	// baseURLDerived is set when BASE_URL is unset, so the server can derive it
	// from the address it actually listens on (ADDR may end in :0).
	baseURLDerived bool
}

// Production reports whether the app runs in production mode.
func (c Config) Production() bool { return c.Env == "production" }

// configError lists every bad variable at once, so an operator fixes them in
// one round.
type configError []string

func (e configError) Error() string {
	return "configuration:\n  - " + strings.Join(e, "\n  - ")
}

// LoadConfig reads and validates the configuration.
func LoadConfig(getenv func(string) string) (Config, error) {
	var bad configError
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Env:            get("APP_ENV", "development"),
		Addr:           get("ADDR", "127.0.0.1:8080"),
		DatabaseURL:    get("DATABASE_URL", ""),
		RedisURL:       get("REDIS_URL", ""),
		DataDir:        get("DATA_DIR", "./data"),
		PGBinDir:       get("PG_BINDIR", ""),
		LogFormat:      get("LOG_FORMAT", "json"),
		SessionKey:     get("SESSION_KEY", ""),
		EncryptionKeys: get("ENCRYPTION_KEY", ""),
	}
	if c.Env != "development" && c.Env != "production" {
		bad = append(bad, fmt.Sprintf("APP_ENV=%q: must be development or production", c.Env))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad = append(bad, fmt.Sprintf("ADDR=%q: must be host:port, e.g. 127.0.0.1:8080 (%v)", c.Addr, err))
	}
	c.BaseURL = strings.TrimRight(get("BASE_URL", "http://"+c.Addr), "/")
	c.baseURLDerived = strings.TrimSpace(getenv("BASE_URL")) == ""
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad = append(bad, fmt.Sprintf("BASE_URL=%q: must be an absolute http(s) URL such as https://ma.example.com", c.BaseURL))
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	bad = append(bad, c.parseProxies(get("TRUSTED_PROXIES", ""))...)
	bad = append(bad, c.parseLevel(get("LOG_LEVEL", "info"))...)
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad = append(bad, fmt.Sprintf("LOG_FORMAT=%q: must be json or text", c.LogFormat))
	}
	bad = append(bad, c.parseBodyLimit(get("MAX_BODY_BYTES", "1048576"))...)
	if c.DatabaseURL != "" {
		bad = append(bad, checkDatabaseURL(c.DatabaseURL)...)
	}
	bad = append(bad, checkRedisURL(c.RedisURL)...)
	bad = append(bad, c.parseSandbox(get("SANDBOX", ""))...)
	if c.Production() {
		bad = append(bad, c.productionRules()...)
	}
	if len(bad) > 0 {
		return c, bad
	}
	return c, nil
}

func (c *Config) parseProxies(v string) []string {
	var bad []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad = append(bad, fmt.Sprintf("TRUSTED_PROXIES: %q is neither an IP nor a CIDR", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	return bad
}

func (c *Config) parseLevel(v string) []string {
	if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
		return []string{fmt.Sprintf("LOG_LEVEL=%q: must be debug, info, warn or error", v)}
	}
	return nil
}

// parseSandbox defaults to auto in development and off in production, where
// the sandbox (fake WeChat servers, the ww shim) is never allowed.
func (c *Config) parseSandbox(v string) []string {
	if v == "" {
		v = "auto"
		if c.Production() {
			v = "off"
		}
	}
	c.Sandbox = v
	switch {
	case v != "auto" && v != "on" && v != "off":
		return []string{fmt.Sprintf("SANDBOX=%q: must be auto, on or off", v)}
	case c.Production() && v != "off":
		return []string{fmt.Sprintf("SANDBOX=%q: the sandbox is never allowed in production (use off)", v)}
	}
	return nil
}

func (c *Config) parseBodyLimit(v string) []string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1024 || n > 64<<20 {
		return []string{fmt.Sprintf("MAX_BODY_BYTES=%q: must be a byte count from 1024 to 67108864", v)}
	}
	c.MaxBodyBytes = n
	return nil
}

// checkDatabaseURL insists on an explicit sslmode: lib/pq's default may change
// between releases, and a silent change of transport security is not acceptable.
func checkDatabaseURL(dsn string) []string {
	if strings.Contains(dsn, "sslmode=") {
		return nil
	}
	return []string{"DATABASE_URL: set sslmode explicitly (e.g. ?sslmode=require, or sslmode=disable on a unix socket)"}
}

func (c Config) productionRules() []string {
	var bad []string
	if c.SessionKey == "" {
		bad = append(bad, "SESSION_KEY: required in production (32+ random bytes, base64); generate one with: openssl rand -base64 32")
	}
	if c.EncryptionKeys == "" {
		bad = append(bad, "ENCRYPTION_KEY: required in production (32 random bytes, base64, optionally ID:KEY,ID:KEY for rotation)")
	}
	if !strings.HasPrefix(c.BaseURL, "https://") {
		bad = append(bad, fmt.Sprintf("BASE_URL=%q: must be https:// in production (WeCom and WeChat require it)", c.BaseURL))
	}
	return bad
}
