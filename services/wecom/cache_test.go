package wecom

import (
	"sync"
	"testing"
	"time"
)

func TestMemoryCacheReturnsJSONDecodedValues(t *testing.T) {
	c := NewMemoryCache()
	type tok struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
	}
	if err := c.Set("k", &tok{AccessToken: "T", ExpiresIn: 7200}, time.Minute); err != nil {
		t.Fatal(err)
	}
	v, err := c.Get("k", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK asserts exactly these types.
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("Get returned %T, want map[string]any", v)
	}
	if _, ok := m["expires_in"].(float64); !ok || m["access_token"] != "T" {
		t.Fatalf("Get = %#v", m)
	}
	if v, _ := c.Get("missing", "def"); v != "def" {
		t.Fatalf("miss returned %v, want default", v)
	}
}

func TestMemoryCacheTTLAndAddNX(t *testing.T) {
	c := NewMemoryCache()
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	if !c.AddNX("lock", 1, time.Second) {
		t.Fatal("first AddNX failed")
	}
	if c.AddNX("lock", 1, time.Second) {
		t.Fatal("second AddNX succeeded while key is live")
	}
	if err := c.Add("lock", 1, time.Second); err != ErrCacheKeyExists {
		t.Fatalf("Add on live key: %v", err)
	}
	now = now.Add(2 * time.Second)
	if c.Has("lock") {
		t.Fatal("key survived its TTL")
	}
	if !c.AddNX("lock", 1, time.Second) {
		t.Fatal("AddNX after expiry failed")
	}
	_ = c.Delete("lock")
	if c.Has("lock") {
		t.Fatal("Delete left the key")
	}
	v, err := c.Remember("r", time.Minute, func() (any, error) { return map[string]int{"n": 1}, nil })
	if err != nil || v.(map[string]any)["n"] != float64(1) {
		t.Fatalf("Remember = %v, %v", v, err)
	}
}

func TestMemoryCacheConcurrentAddNXHasOneWinner(t *testing.T) {
	c := NewMemoryCache()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.AddNX("k", 1, time.Minute) {
				mu.Lock()
				wins++
				mu.Unlock()
			}
			_ = c.Set("other", 1, time.Minute)
			_, _ = c.Get("other", nil)
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("AddNX winners = %d, want 1", wins)
	}
}
