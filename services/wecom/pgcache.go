package wecom

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Sealer encrypts cached values at rest (pii.Box satisfies it). Tokens are
// credentials: a database dump must not hand them out.
type Sealer interface {
	Seal(column string, plaintext []byte) []byte
	Open(column string, ciphertext []byte) ([]byte, error)
}

// PGCache is a Cache kept in PostgreSQL (table wecom_cache) and shared by
// every instance of the app on one database, so that they share tokens and
// tickets, and so that the token manager's AddNX lock works across
// processes. Reads are memoised in process for at most a minute: a token
// refreshed by another instance is seen within that time, and until then the
// old one still works (WeCom keeps a token valid until it expires; the
// Official Account keeps the previous one valid for 5 more minutes).
//
// Expiry is judged by the database clock, so instances with skewed clocks
// agree. Misses are never memoised: an instance waiting for another to fetch
// a token must see it as soon as it is written.
type PGCache struct {
	db     *sqlx.DB
	corpID string
	sealer Sealer
	// Timeout bounds each database call (the SDK's interface has no context).
	timeout time.Duration
	memo    *memo // cache_memo.go, shared with RedisCache
}

const pgCacheColumn = "wecom_cache.value"

// NewPGCache returns a cache for corpID's tokens and tickets. sealer may be
// nil (values are then stored in plain JSON; tests only).
func NewPGCache(db *sqlx.DB, corpID string, sealer Sealer) *PGCache {
	return &PGCache{db: db, corpID: corpID, sealer: sealer, timeout: 3 * time.Second, memo: newMemo(time.Minute)}
}

func (c *PGCache) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

func (c *PGCache) seal(data []byte) []byte {
	if c.sealer == nil {
		return data
	}
	return c.sealer.Seal(pgCacheColumn, data)
}

func (c *PGCache) open(data []byte) ([]byte, error) {
	if c.sealer == nil {
		return data, nil
	}
	return c.sealer.Open(pgCacheColumn, data)
}

// load reads a live value: memo first, then the database.
func (c *PGCache) load(key string) ([]byte, bool, error) {
	if data, ok := c.memo.get(key); ok {
		return data, true, nil
	}
	ctx, cancel := c.ctx()
	defer cancel()
	var row struct {
		Value []byte          `db:"value"`
		Left  sql.NullFloat64 `db:"left_s"`
	}
	err := c.db.GetContext(ctx, &row, `
		SELECT value, extract(epoch FROM expires_at - now()) AS left_s FROM wecom_cache
		WHERE corp_id = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > now())`, c.corpID, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("wecom: pgcache: get: %w", err)
	}
	data, err := c.open(row.Value)
	if err != nil {
		return nil, false, fmt.Errorf("wecom: pgcache: open: %w", err)
	}
	ttl := time.Duration(0)
	if row.Left.Valid {
		ttl = time.Duration(row.Left.Float64 * float64(time.Second))
	}
	c.memo.put(key, data, ttl)
	return data, true, nil
}

// Get implements Cache.
func (c *PGCache) Get(key string, defaultValue any) (any, error) {
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
func (c *PGCache) Has(key string) bool {
	_, ok, err := c.load(key)
	return err == nil && ok
}

// expiry turns a TTL into the SQL interval argument (NULL = never).
func expiry(ttl time.Duration) sql.NullFloat64 {
	if ttl <= 0 {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: ttl.Seconds(), Valid: true}
}

// Set implements Cache.
func (c *PGCache) Set(key string, value any, ttl time.Duration) error {
	data, err := encodeValue(value)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	_, err = c.db.ExecContext(ctx, `
		INSERT INTO wecom_cache (corp_id, key, value, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))
		ON CONFLICT (corp_id, key) DO UPDATE
		SET value = excluded.value, expires_at = excluded.expires_at, updated_at = now()`,
		c.corpID, key, c.seal(data), expiry(ttl))
	if err != nil {
		c.memo.forget(key)
		return fmt.Errorf("wecom: pgcache: set: %w", err)
	}
	c.memo.put(key, data, ttl)
	return nil
}

// AddNX implements Cache: the insert wins only when no live row exists, which
// is what makes the token manager's refresh lock work across instances.
func (c *PGCache) AddNX(key string, value any, ttl time.Duration) bool {
	won, err := c.TryAdd(key, value, ttl)
	return err == nil && won
}

// TryAdd is AddNX that tells "key present" (false) from "database away"
// (error), for the token manager.
func (c *PGCache) TryAdd(key string, value any, ttl time.Duration) (bool, error) {
	data, err := encodeValue(value)
	if err != nil {
		return false, err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	var won bool
	err = c.db.GetContext(ctx, &won, `
		INSERT INTO wecom_cache (corp_id, key, value, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))
		ON CONFLICT (corp_id, key) DO UPDATE
		SET value = excluded.value, expires_at = excluded.expires_at, updated_at = now()
		WHERE wecom_cache.expires_at IS NOT NULL AND wecom_cache.expires_at <= now()
		RETURNING true`, c.corpID, key, c.seal(data), expiry(ttl))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // a live row exists: the upsert's WHERE refused
	}
	if err != nil {
		return false, fmt.Errorf("wecom: pgcache: add: %w", err)
	}
	c.memo.forget(key)
	return won, nil
}

// Add implements Cache; it fails with ErrCacheKeyExists if key is present.
func (c *PGCache) Add(key string, value any, ttl time.Duration) error {
	if !c.AddNX(key, value, ttl) {
		return ErrCacheKeyExists
	}
	return nil
}

// Remember implements Cache.
func (c *PGCache) Remember(key string, ttl time.Duration, callback func() (any, error)) (any, error) {
	return remember(c, key, ttl, callback)
}

// Delete implements Cache.
func (c *PGCache) Delete(key string) error {
	c.memo.forget(key)
	ctx, cancel := c.ctx()
	defer cancel()
	if _, err := c.db.ExecContext(ctx, `DELETE FROM wecom_cache WHERE corp_id = $1 AND key = $2`, c.corpID, key); err != nil {
		return fmt.Errorf("wecom: pgcache: delete: %w", err)
	}
	return nil
}

// SweepPGCache removes long-expired rows of every corp; the inbox worker calls it now
// and then.
func SweepPGCache(ctx context.Context, db *sqlx.DB) error {
	_, err := db.ExecContext(ctx, `DELETE FROM wecom_cache WHERE expires_at IS NOT NULL AND expires_at < now() - interval '1 hour'`)
	if err != nil {
		return fmt.Errorf("wecom: pgcache: sweep: %w", err)
	}
	return nil
}
