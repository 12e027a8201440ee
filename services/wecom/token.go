package wecom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ArtisanCloud/PowerLibs/v3/object"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/response"
	"golang.org/x/sync/singleflight"
)

// tokenManager is the single path by which access tokens and JS-SDK tickets
// are obtained.
//
// What v3.4.41 does by itself (verified in token_test.go): tokens and tickets
// are cached in the configured Cache, and on 40001/40014/42001 the BaseClient
// refreshes once and retries once (no loop). What it lacks, and this type
// adds: (1) no singleflight, so N concurrent calls on a cold cache fetch N
// tokens; (2) no coordination between processes sharing a Cache; (3) a failed
// gettoken is flattened into a formatted string, losing the errcode that
// APIError.Advice needs.
//
// It is installed as the SDK's AccessToken.GetCustomToken hook, so the SDK's
// own refresh-and-retry also goes through here. The hook cannot return an
// error, so every adapter call first calls ensure, which surfaces a token
// failure as an error before the SDK is involved.
type tokenManager struct {
	cache   Cache
	log     *slog.Logger
	sf      singleflight.Group
	timeout time.Duration // one fetch
	lockTTL time.Duration // upper bound a crashed holder can block others
	poll    time.Duration
}

// Refresh tokens this long before WeChat says they expire, so a call never
// starts with a token about to die.
const tokenMargin = 5 * time.Minute

func newTokenManager(cache Cache, log *slog.Logger, timeout time.Duration) *tokenManager {
	return &tokenManager{cache: cache, log: log, timeout: timeout, lockTTL: timeout + 5*time.Second, poll: 50 * time.Millisecond}
}

// install points the SDK token at the manager.
func (m *tokenManager) install(at *kernel.AccessToken) {
	at.GetCustomToken = func(key string, refresh bool) object.HashMap {
		ctx, cancel := context.WithTimeout(context.Background(), m.lockTTL+m.timeout)
		defer cancel()
		tok, err := m.accessToken(ctx, at, refresh)
		if err != nil {
			// The SDK then sends an empty access_token and WeChat answers
			// 41001, which becomes an *APIError for the caller.
			m.log.Warn("wecom: token hook failed", "err", err)
			return object.HashMap{"access_token": "", "expires_in": float64(0)}
		}
		return object.HashMap{"access_token": tok, "expires_in": float64(7200)}
	}
}

// accessToken returns the cached token for at, fetching it when missing or
// when refresh is set.
func (m *tokenManager) accessToken(ctx context.Context, at *kernel.AccessToken, refresh bool) (string, error) {
	return m.obtain(ctx, at.GetCacheKey(), "access_token", refresh, func(ctx context.Context) (map[string]any, time.Duration, error) {
		return m.fetchToken(ctx, at)
	})
}

type fetchFunc func(ctx context.Context) (value map[string]any, ttl time.Duration, err error)

// obtain implements "cache, else singleflight, else cross-process lock, else
// fetch" for one cache key. field names the string in the cached map.
func (m *tokenManager) obtain(ctx context.Context, key, field string, refresh bool, fetch fetchFunc) (string, error) {
	if !refresh {
		if v, ok := m.cached(key, field); ok {
			return v, nil
		}
	}
	// Callers joining a flight share its result; the flight must not die
	// with the first caller's context.
	fctx := context.WithoutCancel(ctx)
	ch := m.sf.DoChan(key, func() (any, error) {
		return m.lockedFetch(fctx, key, field, refresh, fetch)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("wecom: token: %w", ctx.Err())
	}
}

// lockedFetch coordinates processes sharing the Cache: the AddNX winner
// fetches, the others wait for the value to appear.
func (m *tokenManager) lockedFetch(ctx context.Context, key, field string, refresh bool, fetch fetchFunc) (string, error) {
	stale := ""
	if refresh {
		stale, _ = m.cached(key, field)
	}
	fresh := func() (string, bool) {
		v, ok := m.cached(key, field)
		return v, ok && v != stale
	}
	lockKey := key + ".lock"
	deadline := time.Now().Add(m.lockTTL + m.timeout)
	for {
		if v, ok := fresh(); ok {
			return v, nil
		}
		won, err := m.tryLock(lockKey)
		if err != nil {
			// The shared cache is away: fetching anyway would hand every
			// instance a token of its own, so say so and let the caller retry.
			return "", fmt.Errorf("wecom: token: shared cache unavailable: %w", err)
		}
		if won {
			defer func() { _ = m.cache.Delete(lockKey) }()
			if v, ok := fresh(); ok {
				return v, nil
			}
			fctx, cancel := context.WithTimeout(ctx, m.timeout)
			defer cancel()
			val, ttl, err := fetch(fctx)
			if err != nil {
				return "", err
			}
			if err := m.cache.Set(key, val, ttl); err != nil {
				return "", fmt.Errorf("wecom: token: cache: %w", err)
			}
			v, _ := val[field].(string)
			return v, nil
		}
		if time.Now().After(deadline) {
			return "", errors.New("wecom: token: timed out waiting for another instance to fetch " + field)
		}
		select {
		case <-time.After(m.poll):
		case <-ctx.Done():
			return "", fmt.Errorf("wecom: token: %w", ctx.Err())
		}
	}
}

// lockAdder is a shared cache whose lock attempt tells "held by another
// instance" (false) from "cache unreachable" (error); PGCache and RedisCache
// are. With a plain AddNX the second looks like the first, and the manager
// would wait out its deadline for a holder that does not exist.
type lockAdder interface {
	TryAdd(key string, value any, ttl time.Duration) (bool, error)
}

func (m *tokenManager) tryLock(key string) (bool, error) {
	if a, ok := m.cache.(lockAdder); ok {
		return a.TryAdd(key, time.Now().Unix(), m.lockTTL)
	}
	return m.cache.AddNX(key, time.Now().Unix(), m.lockTTL), nil
}

func (m *tokenManager) cached(key, field string) (string, bool) {
	v, err := m.cache.Get(key, nil)
	if err != nil || v == nil {
		return "", false
	}
	mv, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	s, _ := mv[field].(string)
	return s, s != ""
}

// fetchToken calls gettoken (WeCom) or cgi-bin/token (OA/MP) through the
// SDK's own token HTTP helper, endpoint and credentials, but decodes the
// answer itself so that a WeChat error keeps its errcode.
func (m *tokenManager) fetchToken(ctx context.Context, at *kernel.AccessToken) (map[string]any, time.Duration, error) {
	endpoint, err := at.GetEndpoint()
	if err != nil {
		return nil, 0, fmt.Errorf("wecom: gettoken: %w", err)
	}
	df := at.HttpHelper.Df().WithContext(ctx).Uri(endpoint).Method(http.MethodGet)
	creds := *at.GetCredentials()
	_, work := creds["corpid"]
	for k, v := range creds {
		// The SDK also sends appid/secret/neededText (its cache-key inputs)
		// to gettoken; send only what the protocol defines.
		if k == "neededText" || (work && (k == "appid" || k == "secret")) {
			continue
		}
		df.Query(k, v)
	}
	rs, err := df.Request()
	if err != nil {
		return nil, 0, fmt.Errorf("wecom: gettoken: %w", redactErr(err))
	}
	defer rs.Body.Close()
	var res response.ResponseGetToken
	if err := at.HttpHelper.ParseResponseBodyContent(rs, &res); err != nil {
		return nil, 0, fmt.Errorf("wecom: gettoken: decode: %w", err)
	}
	if res.ErrCode != 0 {
		return nil, 0, &APIError{Code: res.ErrCode, Msg: res.ErrMsg, Op: "gettoken"}
	}
	if res.AccessToken == "" {
		return nil, 0, errors.New("wecom: gettoken: empty access_token")
	}
	if res.ExpiresIn <= 0 {
		res.ExpiresIn = 7200
	}
	ttl := cacheTTL(res.ExpiresIn)
	return map[string]any{"access_token": res.AccessToken, "expires_in": res.ExpiresIn}, ttl, nil
}

// cacheTTL keeps a value for its lifetime minus tokenMargin, or half of a
// short lifetime.
func cacheTTL(expiresIn float64) time.Duration {
	life := time.Duration(expiresIn) * time.Second
	if life > 2*tokenMargin {
		return life - tokenMargin
	}
	return life / 2
}
