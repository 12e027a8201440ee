package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/redistest"
)

func TestRedisURLValidated(t *testing.T) {
	for _, bad := range []string{"localhost:6379", "http://cache:6379", "redis://:hunter2@cache:notaport", "redis://cache:6379/x"} {
		_, err := LoadConfig(envOf(map[string]string{"REDIS_URL": bad}))
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("REDIS_URL=%s: err = %v, want one naming REDIS_URL", bad, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	for _, good := range []string{"redis://:pw@cache:6379/2", "rediss://user:pw@cache:6380", "unix:///run/redis.sock?db=1"} {
		c, err := LoadConfig(envOf(map[string]string{"REDIS_URL": good}))
		if err != nil || c.RedisURL != good {
			t.Errorf("REDIS_URL=%s: %v", good, err)
		}
	}
}

// Two instances with REDIS_URL starting cold fetch one WeCom token between
// them, and it lives in Redis, sealed, not in PostgreSQL.
func TestTwoInstancesShareTokensInRedis(t *testing.T) {
	rs := redistest.Start(t)
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 1, Employees: 3, WeChatUsers: 40, ContactsPerEmployee: 8})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	env := deploymentEnv(dsn, sb.internal("inbox_poll=50ms", "inbox_backoff=100ms"))
	env["REDIS_URL"] = rs.URL()
	servers := [2]*testServer{}
	for i := range servers {
		s, err := launchServer(env, t.TempDir())
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		t.Cleanup(func() { _ = s.stop() })
		servers[i] = s
	}
	client := noRedirects(10 * time.Second)
	rels := sb.relations()
	var wg sync.WaitGroup
	now := time.Now().Unix()
	for i, f := range rels {
		wg.Go(func() {
			if st, body, err := sb.postCallback(client, servers[i%2].URL, "/callbacks/wecom", sb.wecomAdded(f, now)); st != 200 {
				t.Errorf("callback: %d %s %v", st, body, err)
			}
		})
	}
	wg.Wait()
	eventually(t, "the workers drained the inbox", 60*time.Second, func() bool { return inboxSettled(t, db) })
	if n := sb.Hits("/cgi-bin/gettoken"); n != 1 {
		t.Fatalf("gettoken calls between two instances = %d, want 1", n)
	}
	if n := countRows(t, db, `SELECT count(*) FROM wecom_cache WHERE key LIKE 'powerwechat.access_token.%'`); n != 0 {
		t.Fatalf("%d tokens in PostgreSQL; with REDIS_URL they belong in Redis", n)
	}
	assertTokenInRedis(t, rs.URL(), sb.Options().Corp.CorpID)
}

func assertTokenInRedis(t *testing.T, url, corpID string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "ma:wecom:"+corpID+":powerwechat.access_token.*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("token keys in Redis = %v, %v; want 1", keys, err)
	}
	raw, _ := rdb.Get(ctx, keys[0]).Result()
	if strings.Contains(raw, "access_token") {
		t.Fatal("the token is stored in plain JSON; it must be sealed")
	}
	if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 7200*time.Second-5*time.Minute {
		t.Fatalf("token TTL = %s; want set, and shorter than its life so it is refreshed early", ttl)
	}
}
