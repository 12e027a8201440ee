package wecom

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCache is a Cache kept in Redis and shared by every instance of the app
// pointed at the same server (REDIS_URL), with the semantics of PGCache:
// reads are memoised in process for at most a minute, misses never are, expiry
// is judged by the Redis clock (PTTL), values are sealed at rest, and AddNX
// is SET NX PX, which makes the token manager's refresh lock work across
// instances.
//
// When Redis is away every call fails fast with an error naming Redis; the
// token manager then reports it instead of fetching tokens behind the other
// instances' backs, and go-redis reconnects by itself once Redis is back.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
	sealer Sealer
	// Timeout bounds each Redis call (the SDK's interface has no context).
	timeout time.Duration
	memo    *memo
}

// redisSealColumn is the associated data of sealed values: a value copied
// from the PostgreSQL cache (or anywhere else) does not open here.
const redisSealColumn = "redis.wecom_cache"

// NewRedisCache returns a cache for corpID's tokens and tickets on rdb. Keys
// are "ma:wecom:<corpID>:<key>", so one Redis can serve several corps and
// other applications. sealer may be nil (plain JSON; tests only).
func NewRedisCache(rdb redis.UniversalClient, corpID string, sealer Sealer) *RedisCache {
	return &RedisCache{rdb: rdb, prefix: "ma:wecom:" + corpID + ":", sealer: sealer,
		timeout: 3 * time.Second, memo: newMemo(time.Minute)}
}

func (c *RedisCache) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

func (c *RedisCache) seal(data []byte) []byte {
	if c.sealer == nil {
		return data
	}
	return c.sealer.Seal(redisSealColumn, data)
}

func (c *RedisCache) open(data []byte) ([]byte, error) {
	if c.sealer == nil {
		return data, nil
	}
	return c.sealer.Open(redisSealColumn, data)
}

// load reads a live value: memo first, then Redis (value and remaining TTL
// in one round trip, so the memo never outlives the key).
func (c *RedisCache) load(key string) ([]byte, bool, error) {
	if data, ok := c.memo.get(key); ok {
		return data, true, nil
	}
	ctx, cancel := c.ctx()
	defer cancel()
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, c.prefix+key)
		pttl = p.PTTL(ctx, c.prefix+key)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("wecom: redis cache: get: %w", err)
	}
	data, err := c.open([]byte(get.Val()))
	if err != nil {
		return nil, false, fmt.Errorf("wecom: redis cache: open: %w", err)
	}
	ttl := pttl.Val() // -1: no expiry, which memo.put caps at its ttl
	c.memo.put(key, data, ttl)
	return data, true, nil
}

// Get implements Cache.
func (c *RedisCache) Get(key string, defaultValue any) (any, error) {
	data, ok, err := c.load(key)
	if err != nil {
		return defaultValue, err
	}
	if !ok {
		return defaultValue, nil
	}
	return decodeValue(data)
}

// Has implements Cache.
func (c *RedisCache) Has(key string) bool {
	_, ok, err := c.load(key)
	return err == nil && ok
}

// redisTTL maps the Cache's "no expiry" (ttl ≤ 0) to go-redis's (0); a
// negative value would mean KEEPTTL there.
func redisTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return ttl
}

// Set implements Cache.
func (c *RedisCache) Set(key string, value any, ttl time.Duration) error {
	data, err := encodeValue(value)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.rdb.Set(ctx, c.prefix+key, c.seal(data), redisTTL(ttl)).Err(); err != nil {
		c.memo.forget(key)
		return fmt.Errorf("wecom: redis cache: set: %w", err)
	}
	c.memo.put(key, data, ttl)
	return nil
}

// TryAdd stores value only if key is absent (SET NX PX) and reports whether
// it did; unlike AddNX it tells "someone else holds it" from "Redis is away".
func (c *RedisCache) TryAdd(key string, value any, ttl time.Duration) (bool, error) {
	data, err := encodeValue(value)
	if err != nil {
		return false, err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	won, err := c.rdb.SetNX(ctx, c.prefix+key, c.seal(data), redisTTL(ttl)).Result()
	if err != nil {
		return false, fmt.Errorf("wecom: redis cache: add: %w", err)
	}
	c.memo.forget(key)
	return won, nil
}

// AddNX implements Cache.
func (c *RedisCache) AddNX(key string, value any, ttl time.Duration) bool {
	won, err := c.TryAdd(key, value, ttl)
	return err == nil && won
}

// Add implements Cache; it fails with ErrCacheKeyExists if key is present.
func (c *RedisCache) Add(key string, value any, ttl time.Duration) error {
	won, err := c.TryAdd(key, value, ttl)
	if err != nil {
		return err
	}
	if !won {
		return ErrCacheKeyExists
	}
	return nil
}

// Remember implements Cache.
func (c *RedisCache) Remember(key string, ttl time.Duration, callback func() (any, error)) (any, error) {
	return remember(c, key, ttl, callback)
}

// Delete implements Cache.
func (c *RedisCache) Delete(key string) error {
	c.memo.forget(key)
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("wecom: redis cache: delete: %w", err)
	}
	return nil
}
