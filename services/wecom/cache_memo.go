package wecom

import (
	"sync"
	"time"
)

// memo is the in-process layer of a shared cache: a value read or written
// here is kept for at most ttl (never past the shared entry's own expiry), so
// a token refreshed by another instance is seen within ttl.
type memo struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]memoEntry
}

type memoEntry struct {
	data    []byte
	expires time.Time // local clock: min(shared expiry, read + ttl)
}

func newMemo(ttl time.Duration) *memo {
	return &memo{ttl: ttl, now: time.Now, m: map[string]memoEntry{}}
}

func (m *memo) get(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	if !ok || !m.now().Before(e.expires) {
		delete(m.m, key)
		return nil, false
	}
	return e.data, true
}

// put keeps data for min(left, m.ttl); left ≤ 0 means the entry has no expiry.
func (m *memo) put(key string, data []byte, left time.Duration) {
	if left <= 0 || left > m.ttl {
		left = m.ttl
	}
	m.mu.Lock()
	m.m[key] = memoEntry{data: data, expires: m.now().Add(left)}
	m.mu.Unlock()
}

func (m *memo) forget(key string) {
	m.mu.Lock()
	delete(m.m, key)
	m.mu.Unlock()
}
