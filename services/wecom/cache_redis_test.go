package wecom

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/redistest"
)

// sharedBackend is one running shared store (a PostgreSQL database or a
// redis-server) as several app instances see it.
type sharedBackend struct {
	// instance returns the cache of a new app instance: its own connection
	// pool and its own in-process memo, on the shared store.
	instance func(corpID string) Cache
	// raw returns the stored bytes of key, to check sealing at rest.
	raw func(corpID, key string) []byte
	// stop and start make the store go away and come back.
	stop, start func()
}

// sharedKinds are the Cache implementations shared between instances; every
// test below runs against each.
var sharedKinds = []struct {
	name string
	open func(t *testing.T, sealer Sealer) sharedBackend
}{
	{"postgres", openPGBackend},
	{"redis", openRedisBackend},
}

func openPGBackend(t *testing.T, sealer Sealer) sharedBackend {
	dsn := pgtest.NewDSN(t)
	probe := pgtest.Open(t, dsn)
	return sharedBackend{
		instance: func(corpID string) Cache { return NewPGCache(pgtest.Open(t, dsn), corpID, sealer) },
		raw: func(corpID, key string) []byte {
			var v []byte
			_ = probe.Get(&v, `SELECT value FROM wecom_cache WHERE corp_id = $1 AND key = $2`, corpID, key)
			return v
		},
		stop:  func() { must0(t, pgtest.Cluster().Stop(context.Background())) },
		start: func() { must0(t, pgtest.Cluster().Start(context.Background())) },
	}
}

func openRedisBackend(t *testing.T, sealer Sealer) sharedBackend {
	srv := redistest.Start(t)
	client := func() *redis.Client {
		opt, err := redis.ParseURL(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	probe := client()
	return sharedBackend{
		instance: func(corpID string) Cache { return NewRedisCache(client(), corpID, sealer) },
		raw: func(corpID, key string) []byte {
			v, _ := probe.Get(context.Background(), "ma:wecom:"+corpID+":"+key).Bytes()
			return v
		},
		stop:  func() { srv.Stop(t) },
		start: func() { srv.Start(t) },
	}
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testSealer(t *testing.T) Sealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := pii.NewBox(map[byte][]byte{1: key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// forEachShared runs fn against every shared Cache implementation.
func forEachShared(t *testing.T, fn func(t *testing.T, b sharedBackend)) {
	for _, k := range sharedKinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k.open(t, testSealer(t))) })
	}
}

func TestSharedCacheContract(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		a, other := b.instance("wwA"), b.instance("wwA")
		tok := map[string]any{"access_token": "T-secret-value", "expires_in": 7200}
		must0(t, a.Set("tok", tok, time.Minute))
		// Another instance reads what the first wrote, JSON-decoded as the SDK expects.
		v, err := other.Get("tok", nil)
		m, ok := v.(map[string]any)
		if err != nil || !ok || m["access_token"] != "T-secret-value" || m["expires_in"] != float64(7200) {
			t.Fatalf("Get from another instance = %#v, %v", v, err)
		}
		if v, err := other.Get("missing", "def"); v != "def" || err != nil {
			t.Fatalf("miss = %v, %v; want the default", v, err)
		}
		// Tokens are credentials: never plain at rest.
		if raw := b.raw("wwA", "tok"); len(raw) == 0 || strings.Contains(string(raw), "T-secret-value") {
			t.Fatalf("stored value not sealed: %q", raw)
		}
		// Corps do not see each other's keys.
		if b.instance("wwB").Has("tok") {
			t.Fatal("a key leaked to another corp")
		}
		must0(t, a.Delete("tok"))
		if a.Has("tok") || b.instance("wwA").Has("tok") {
			t.Fatal("Delete left the key")
		}
	})
}

func TestSharedCacheTTL(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		a, other := b.instance("wwA"), b.instance("wwA")
		must0(t, a.Set("short", 1, 300*time.Millisecond))
		if !other.Has("short") || !a.Has("short") {
			t.Fatal("value missing before its TTL")
		}
		time.Sleep(450 * time.Millisecond)
		// Both the store and the memos (read above) let it go on time.
		if a.Has("short") || other.Has("short") {
			t.Fatal("value outlived its TTL")
		}
		if !a.AddNX("short", 2, time.Minute) {
			t.Fatal("AddNX on an expired key failed")
		}
	})
}

// The refresh lock: of many concurrent AddNX over two instances, one wins.
func TestSharedCacheAddNXOneWinner(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		insts := []Cache{b.instance("wwA"), b.instance("wwA")}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				if insts[i%2].AddNX("lock", i, time.Minute) {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("AddNX winners = %d, want 1", wins.Load())
		}
		if err := insts[0].Add("lock", 1, time.Minute); err != ErrCacheKeyExists {
			t.Fatalf("Add on a held key = %v, want ErrCacheKeyExists", err)
		}
	})
}

// sandboxFor starts a sandbox whose tokens live ttl (0: the default 7200 s).
func sandboxFor(t *testing.T, ttl time.Duration) *sandbox.Sandbox {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 42, Logger: testLogger(t), TokenTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	return sb
}

// clientOn is one app instance: a client of sb with cache.
func clientOn(t *testing.T, sb *sandbox.Sandbox, cache Cache) *Client {
	t.Helper()
	o, u := sb.Options(), sb.URLs()
	c, err := New(Config{CorpID: o.Corp.CorpID, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		WeComBaseURL: u.WeComAPI, HTTPTimeout: 3 * time.Second}, cache, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Two instances starting cold fetch one token between them; a token error
// gets one forced refresh and one retry, and never a loop.
func TestSharedCacheTwoInstancesColdFetchOneToken(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		sb := sandboxFor(t, 0)
		corp := sb.Options().Corp.CorpID
		clients := []*Client{clientOn(t, sb, b.instance(corp)), clientOn(t, sb, b.instance(corp))}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				_, err := clients[i%2].ListDepartments(context.Background(), 0)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must0(t, err)
		}
		if n := sb.Hits("/cgi-bin/gettoken"); n != 1 {
			t.Fatalf("gettoken calls = %d, want 1", n)
		}
		tokens := sb.Hits("/cgi-bin/gettoken")
		must(sb.AddFault(sandbox.Fault{Path: "/cgi-bin/department/list", ErrCode: 42001, Times: 1}))(t)
		if _, err := clients[1].ListDepartments(context.Background(), 0); err != nil {
			t.Fatalf("after one 42001: %v", err)
		}
		if d := sb.Hits("/cgi-bin/gettoken") - tokens; d != 1 {
			t.Fatalf("one 42001: %d token fetches, want 1 forced refresh", d)
		}
		sb.ClearFaults()
		tokens = sb.Hits("/cgi-bin/gettoken")
		must(sb.AddFault(sandbox.Fault{Path: "/cgi-bin/department/list", ErrCode: 42001, Times: 5}))(t)
		if _, err := clients[0].ListDepartments(context.Background(), 0); !IsAPIError(err, 42001) {
			t.Fatalf("repeated 42001 = %v, want APIError 42001", err)
		}
		if dt, calls := sb.Hits("/cgi-bin/gettoken")-tokens, sb.Faults()[0].Hits; dt != 1 || calls != 2 {
			t.Fatalf("repeated 42001: %d token fetches (want 1), %d calls (want 2)", dt, calls)
		}
	})
}

// JS-SDK tickets are shared the same way: two instances, one ticket of each
// kind.
func TestSharedCacheTicketsOncePerDeployment(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		sb := sandboxFor(t, 0)
		corp := sb.Options().Corp.CorpID
		for _, c := range []*Client{clientOn(t, sb, b.instance(corp)), clientOn(t, sb, b.instance(corp))} {
			if _, err := c.ConfigSignature(context.Background(), "https://ma.example.com/sidebar"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.AgentConfigSignature(context.Background(), "https://ma.example.com/sidebar"); err != nil {
				t.Fatal(err)
			}
		}
		if a, g := sb.Hits("/cgi-bin/get_jsapi_ticket"), sb.Hits("/cgi-bin/ticket/get"); a != 1 || g != 1 {
			t.Fatalf("ticket fetches: corp %d, agent %d; want 1 each", a, g)
		}
	})
}

// Tokens are refreshed before WeChat expires them: a 4 s token is cached for
// half its life, so the next call after 2 s fetches a new one while the old
// is still good (no 42001 round trip).
func TestSharedCacheRefreshesEarly(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		sb := sandboxFor(t, 4*time.Second)
		corp := sb.Options().Corp.CorpID
		a, other := clientOn(t, sb, b.instance(corp)), clientOn(t, sb, b.instance(corp))
		_, err := a.ListDepartments(context.Background(), 0)
		must0(t, err)
		time.Sleep(2300 * time.Millisecond)
		_, err = other.ListDepartments(context.Background(), 0)
		must0(t, err)
		if n := sb.Hits("/cgi-bin/gettoken"); n != 2 {
			t.Fatalf("gettoken calls = %d, want 2 (the first, then one early refresh)", n)
		}
		if n := sb.Hits("/cgi-bin/department/list"); n != 2 {
			t.Fatalf("department/list calls = %d, want 2 (no retry after an expired token)", n)
		}
	})
}

// The shared store going away: a warm instance rides it out on its memo, a
// cold one gets a clear error at once without fetching a token of its own
// (no loop, no stampede), and both work again once the store is back.
func TestSharedCacheStoreGoesAway(t *testing.T) {
	forEachShared(t, func(t *testing.T, b sharedBackend) {
		sb := sandboxFor(t, 0)
		corp := sb.Options().Corp.CorpID
		warm := clientOn(t, sb, b.instance(corp))
		_, err := warm.ListDepartments(context.Background(), 0)
		must0(t, err)
		b.stop()
		stopped := true
		defer func() {
			if stopped {
				b.start() // the package's other tests need PostgreSQL back
			}
		}()
		_, err = warm.ListDepartments(context.Background(), 0)
		must0(t, err)
		cold := clientOn(t, sb, b.instance(corp))
		began := time.Now()
		_, err = cold.ListDepartments(context.Background(), 0)
		if err == nil || !strings.Contains(err.Error(), "shared cache unavailable") {
			t.Fatalf("cold instance with the store away: err = %v, want a shared-cache error", err)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Fatalf("error took %s; want it at once, not after waiting for a lock holder", took)
		}
		if n := sb.Hits("/cgi-bin/gettoken"); n != 1 {
			t.Fatalf("gettoken calls = %d, want 1: no instance fetches behind the store's back", n)
		}
		b.start()
		stopped = false
		_, err = cold.ListDepartments(context.Background(), 0)
		must0(t, err)
		// Redis restarts empty (one more fetch); PostgreSQL kept the token.
		if n := sb.Hits("/cgi-bin/gettoken"); n > 2 {
			t.Fatalf("gettoken calls after recovery = %d, want at most 2", n)
		}
	})
}
