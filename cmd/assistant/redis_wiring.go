package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// redisURLForms is what REDIS_URL may look like.
const redisURLForms = "use redis://[user:password@]host:port[/db], rediss://… (TLS) or unix:///path/to/redis.sock[?db=N]"

// checkRedisURL validates REDIS_URL (empty: not used). The message shows the
// URL with its password masked: configuration errors end up in logs.
func checkRedisURL(raw string) []string {
	if raw == "" {
		return nil
	}
	if _, err := redis.ParseURL(raw); err != nil {
		return []string{fmt.Sprintf("REDIS_URL=%q: %s; %s", redactedURL(raw), redisURLReason(err), redisURLForms)}
	}
	return nil
}

// redactedURL masks the password, or hides the whole value when it does not
// even parse (a url.Parse error would quote it, password and all).
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// redisURLReason is go-redis's complaint without the quoted URL.
func redisURLReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "not a URL (" + ue.Err.Error() + ")"
	}
	return err.Error()
}

// redisTimeout bounds dialing and each command: a token read must fail fast
// when Redis is away, not hang the request that needs the token.
const redisTimeout = 2 * time.Second

// useRedisCache points the provider's token caches at Redis when REDIS_URL
// is set, and returns the client to close at shutdown (nil otherwise). An
// unreachable Redis at start is logged, not fatal: the token manager reports
// it on every call that needs a token, and go-redis reconnects once Redis is
// back.
func useRedisCache(ctx context.Context, cfg Config, log *slog.Logger, secrets Secrets, p *services.WeChatProvider) io.Closer {
	if cfg.RedisURL == "" {
		return nil
	}
	opt, err := redis.ParseURL(cfg.RedisURL) // validated by LoadConfig
	if err != nil {
		log.Error("redis: REDIS_URL rejected after validation; tokens stay in PostgreSQL", "err", redisURLReason(err))
		return nil
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = redisTimeout, redisTimeout, redisTimeout
	rdb := redis.NewClient(opt)
	p.NewCache = func(corpID string) wecom.Cache { return wecom.NewRedisCache(rdb, corpID, secrets.PII) }
	pctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.Warn("redis: not reachable yet; WeChat calls needing a token fail until it is", "addr", opt.Addr, "err", err)
	} else {
		log.Info("redis: access tokens and tickets cached in Redis", "addr", opt.Addr, "db", opt.DB)
	}
	return rdb
}
