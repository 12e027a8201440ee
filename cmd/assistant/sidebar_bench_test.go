package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// BenchmarkSidebarProfile measures GET /sidebar/c/:ext (profile + first
// timeline page, the htmx fragment) under an open-loop load at a fixed rate,
// against a SELECT 1 endpoint at the same rate in the same run, in
// alternating rounds: 1,000 req/s over 200 light customers (≈20 moments on
// 3–4 identities each) and 300 req/s for one customer with 100k moments.
// Reported: p99 in ms of each and the ratio to the SELECT 1 p99 (targets:
// p99 ≤ 10 ms, ratio ≤ 5). Run with -benchtime 1x (make bench does).
func BenchmarkSidebarProfile(b *testing.B) {
	db := pgtest.NewDB(b)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	app := startSidebarApp(b, sidebarOpts{noShim: true, db: db, pingDB: true})
	app.employee(b, "alice", "张三")
	exts := make([]string, 200)
	for i := range exts {
		_, exts[i] = app.customer(b, "alice", fmt.Sprintf("客户%03d", i), fmt.Sprintf("139%08d", i+1))
	}
	_, heavy := app.customer(b, "alice", "大客户", "13800001111")
	c := sidebarBenchClient()
	app.signIn(b, c, "alice")
	alice := services.Viewer{CorpID: app.CorpID, UserID: "alice"}
	for _, ext := range append(exts, heavy) { // what the first view does: import from WeCom
		if err := app.Svc.ImportContact(context.Background(), alice, ext, app.Client); err != nil {
			b.Fatal(err)
		}
	}
	db.MustExec(`INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, dedup_key)
SELECT i.id, (ARRAY['form_viewed','material_sent','oa_menu_clicked','wecom_tagged'])[1 + g % 4],
       now() - g * interval '37 minutes', 'form', 'alice', 'm' || g, 'bench:' || i.id || ':' || g
FROM identities i CROSS JOIN generate_series(1, 20) g WHERE i.kind IN ('wecom_external_userid', 'phone')`)
	db.MustExec(`INSERT INTO moments (identity_id, kind, occurred_at, channel, title, dedup_key)
SELECT (SELECT id FROM identities WHERE kind = 'wecom_external_userid' AND key = $1),
       (ARRAY['form_viewed','material_opened','oa_menu_clicked','wecom_tagged'])[1 + g % 4],
       now() - g * interval '1 minute', 'form', 'm' || g, 'heavy:' || g
FROM generate_series(1, 100000) g`, heavy)
	// Settle the bulk load before measuring: without VACUUM, autovacuum runs
	// on the fresh moments during the rounds, and its statistics update
	// invalidates every connection's cached plans at once.
	db.MustExec(`VACUUM ANALYZE`)
	cookie := sidebarSessionCookie(b, c, app.URL)
	light := func(r *rand.Rand) string { return app.URL + "/sidebar/c/" + exts[r.IntN(len(exts))] }
	heavyURL := func(*rand.Rand) string { return app.URL + "/sidebar/c/" + heavy }
	ping := func(*rand.Rand) string { return app.URL + "/pingdb" }
	round := 3 * time.Second
	// Warm up: every pooled connection prepares and plans its statements once.
	sidebarOpenLoop(b, cookie, 300, time.Second, light)
	sidebarOpenLoop(b, cookie, 300, time.Second, heavyURL)
	sidebarOpenLoop(b, cookie, 300, time.Second, ping)
	var lightP, heavyP, ping1k, ping300 []float64
	for i := 0; i < 2; i++ { // alternate A/B rounds
		lightP = append(lightP, sidebarOpenLoop(b, cookie, 1000, round, light))
		ping1k = append(ping1k, sidebarOpenLoop(b, cookie, 1000, round, ping))
		heavyP = append(heavyP, sidebarOpenLoop(b, cookie, 300, round, heavyURL))
		ping300 = append(ping300, sidebarOpenLoop(b, cookie, 300, round, ping))
	}
	b.ReportMetric(sidebarMedian(lightP), "light_p99_ms@1000rps")
	b.ReportMetric(sidebarMedian(heavyP), "heavy_p99_ms@300rps")
	b.ReportMetric(sidebarMedian(ping1k), "pingdb_p99_ms@1000rps")
	b.ReportMetric(sidebarMedian(ping300), "pingdb_p99_ms@300rps")
	b.ReportMetric(sidebarMedian(sidebarRatios(lightP, ping1k)), "light/pingdb_p99")
	b.ReportMetric(sidebarMedian(sidebarRatios(heavyP, ping300)), "heavy/pingdb_p99")
}

func sidebarBenchClient() *http.Client {
	c := noRedirect()
	c.Transport = &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
	return c
}

func sidebarSessionCookie(b *testing.B, c *http.Client, base string) *http.Cookie {
	req, _ := http.NewRequest(http.MethodGet, base, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == "ma_staff" {
			return ck
		}
	}
	b.Fatal("no session")
	return nil
}

// sidebarOpenLoop sends rate requests per second for d, each at its scheduled
// time whatever the previous ones are doing (no coordinated omission: the
// latency counts from the scheduled start), and returns the p99 in ms.
func sidebarOpenLoop(b *testing.B, cookie *http.Cookie, rate int, d time.Duration, next func(*rand.Rand) string) float64 {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	n := int(d.Seconds() * float64(rate))
	lat := make([]float64, n)
	var wg sync.WaitGroup
	var failed sync.Once
	r := rand.New(rand.NewPCG(1, 2))
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		u := next(r)
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
			req.Header.Set("HX-Request", "true")
			req.AddCookie(cookie)
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Do(func() { b.Errorf("GET %s: %v", u, err) })
			}
			lat[i] = float64(time.Since(at).Microseconds()) / 1000
		}(i, at)
	}
	wg.Wait()
	slices.Sort(lat)
	return lat[n*99/100]
}

func sidebarMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func sidebarRatios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}
