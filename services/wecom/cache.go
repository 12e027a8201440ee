package wecom

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel"
)

// Cache stores access tokens and JS-SDK tickets. Its first six methods are
// exactly PowerWeChat's kernel.CacheInterface, so one value serves both the
// SDK and the adapter; Delete releases the refresh lock (AddNX).
//
// Get must return the JSON-decoded value (map[string]any with float64
// numbers, as encoding/json produces), never the value given to Set: the SDK
// type-asserts what it reads back (`value.(map[string]interface{})`,
// `token["expires_in"].(float64)`). Get returns defaultValue, nil on a miss.
type Cache interface {
	Get(key string, defaultValue any) (any, error)
	Set(key string, value any, ttl time.Duration) error
	Has(key string) bool
	AddNX(key string, value any, ttl time.Duration) bool
	Add(key string, value any, ttl time.Duration) error
	Remember(key string, ttl time.Duration, callback func() (any, error)) (any, error)
	Delete(key string) error
}

// Compile-time proof that a Cache can be handed to the SDK.
var _ kernel.CacheInterface = Cache(nil)

// ErrCacheKeyExists is returned by Add when the key is present.
var ErrCacheKeyExists = errors.New("wecom: cache: key exists")

// MemoryCache is a per-instance, concurrency-safe Cache with TTLs. Unlike the
// SDK's default cache it is not process-global and never touches the disk
// (the default writes every token to $HOME/.ArtisanCloud/cache).
type MemoryCache struct {
	mu  sync.Mutex
	m   map[string]memEntry
	now func() time.Time
}

type memEntry struct {
	data    []byte
	expires time.Time // zero = no expiry
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{m: make(map[string]memEntry), now: time.Now}
}

func (c *MemoryCache) load(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if !e.expires.IsZero() && !c.now().Before(e.expires) {
		delete(c.m, key)
		return nil, false
	}
	return e.data, true
}

func (c *MemoryCache) store(key string, data []byte, ttl time.Duration, onlyIfAbsent bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if onlyIfAbsent {
		if e, ok := c.m[key]; ok && (e.expires.IsZero() || now.Before(e.expires)) {
			return false
		}
	}
	e := memEntry{data: data}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	c.m[key] = e
	return true
}

// Get implements Cache.
func (c *MemoryCache) Get(key string, defaultValue any) (any, error) {
	data, ok := c.load(key)
	if !ok {
		return defaultValue, nil
	}
	return decodeValue(data)
}

// Set implements Cache.
func (c *MemoryCache) Set(key string, value any, ttl time.Duration) error {
	data, err := encodeValue(value)
	if err != nil {
		return err
	}
	c.store(key, data, ttl, false)
	return nil
}

// Has implements Cache.
func (c *MemoryCache) Has(key string) bool {
	_, ok := c.load(key)
	return ok
}

// AddNX implements Cache: it stores value only if key is absent and reports
// whether it did.
func (c *MemoryCache) AddNX(key string, value any, ttl time.Duration) bool {
	data, err := encodeValue(value)
	if err != nil {
		return false
	}
	return c.store(key, data, ttl, true)
}

// Add implements Cache; it fails with ErrCacheKeyExists if key is present.
func (c *MemoryCache) Add(key string, value any, ttl time.Duration) error {
	data, err := encodeValue(value)
	if err != nil {
		return err
	}
	if !c.store(key, data, ttl, true) {
		return ErrCacheKeyExists
	}
	return nil
}

// Remember implements Cache.
func (c *MemoryCache) Remember(key string, ttl time.Duration, callback func() (any, error)) (any, error) {
	return remember(c, key, ttl, callback)
}

// Delete implements Cache.
func (c *MemoryCache) Delete(key string) error {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
	return nil
}

func remember(c Cache, key string, ttl time.Duration, callback func() (any, error)) (any, error) {
	if c.Has(key) {
		return c.Get(key, nil)
	}
	v, err := callback()
	if err != nil {
		return nil, err
	}
	if err := c.Set(key, v, ttl); err != nil {
		return nil, err
	}
	return c.Get(key, nil)
}

func encodeValue(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wecom: cache: encode: %w", err)
	}
	return data, nil
}

func decodeValue(data []byte) (any, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("wecom: cache: decode: %w", err)
	}
	return v, nil
}
