package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
)

// BenchmarkFormSubmitHTTP measures the customer path over real HTTP, no
// browser: GET the form page (for its one-time token), then POST the
// submission (303). Two engines share one database: the real one (one
// statement: identity link + moment + submission) and a yardstick doing a
// plain insert of the same rows instead of the link. Rounds alternate.
//
//	go test -run '^$' -bench FormSubmitHTTP -benchtime=1x ./cmd/assistant/
//
// Reported: submissions/s (closed loop, 16 clients) for both and their
// ratio (medians of 3 rounds each), lost submissions (303 answers without a
// row, or rows without an answer), and p50/p99 of the POST and of the whole
// page+submit at a fixed 1,000 submissions/s against the real engine.
func BenchmarkFormSubmitHTTP(b *testing.B) {
	db := pgtest.NewDB(b)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	link := newFormsEnv(b, formsEnvOptions{db: db})
	plain := newFormsEnv(b, formsEnvOptions{db: db, baseline: true})
	lf, pf := link.createForm(b, nil), plain.createForm(b, nil)
	cl := benchClient()
	var seq atomic.Int64
	lost := 0
	var linkRates, plainRates []float64
	for round := range 3 {
		for _, side := range []struct {
			name  string
			env   *formsEnv
			f     services.Form
			rates *[]float64
		}{{"link", link, lf, &linkRates}, {"plain", plain, pf, &plainRates}} {
			before := side.env.count(b, `SELECT count(*) FROM form_submissions WHERE form_id = $1`, side.f.ID)
			ok, elapsed := closedLoop(b, cl, side.env.URL, side.f.Slug, &seq, 16, 3*time.Second)
			rows := side.env.count(b, `SELECT count(*) FROM form_submissions WHERE form_id = $1`, side.f.ID) - before
			lost += abs(rows - ok)
			*side.rates = append(*side.rates, float64(ok)/elapsed.Seconds())
			b.Logf("round %d %s: %d answers, %d rows, %.0f/s", round, side.name, ok, rows, float64(ok)/elapsed.Seconds())
		}
	}
	post, pair, sent := openLoop(b, cl, link.URL, lf.Slug, &seq, 1000, 4*time.Second)
	lr, pr := median(linkRates), median(plainRates)
	b.ReportMetric(lr, "submissions/s")
	b.ReportMetric(pr, "plain-submissions/s")
	b.ReportMetric(lr/pr, "ratio")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(pct(post, 50), "p50-post-ms@1000/s")
	b.ReportMetric(pct(post, 99), "p99-post-ms@1000/s")
	b.ReportMetric(pct(pair, 99), "p99-page+post-ms@1000/s")
	b.Logf("open loop: %d submissions in 4 s; POST p50 %.1f p99 %.1f ms; page+POST p50 %.1f p99 %.1f ms",
		sent, pct(post, 50), pct(post, 99), pct(pair, 50), pct(pair, 99))
}

func benchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 512
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// submitOnce loads the form page and posts a submission with a fresh phone,
// from its own client IP (X-Forwarded-For; the test server trusts
// 127.0.0.1). It returns whether the answer was 303 and the POST latency.
func submitOnce(cl *http.Client, base, slug string, n int64) (bool, time.Duration, error) {
	ip := fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
	req, _ := http.NewRequest(http.MethodGet, base+"/f/"+slug, nil)
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := cl.Do(req)
	if err != nil {
		return false, 0, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := tokenRE.FindSubmatch(page)
	if m == nil {
		return false, 0, fmt.Errorf("no token (status %d)", resp.StatusCode)
	}
	form := url.Values{"t": {string(m[1])}, "f.name": {"压测"}, "f.c1": {"线上"}, "consent": {"1"},
		"phone": {fmt.Sprintf("1391%07d", 1234567+n)}, "utm_source": {"bench"}}
	req, _ = http.NewRequest(http.MethodPost, base+"/f/"+slug, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	start := time.Now()
	resp, err = cl.Do(req)
	if err != nil {
		return false, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusSeeOther, time.Since(start), nil
}

// closedLoop runs workers back to back for d and counts 303 answers.
func closedLoop(b *testing.B, cl *http.Client, base, slug string, seq *atomic.Int64, workers int, d time.Duration) (int, time.Duration) {
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				good, _, err := submitOnce(cl, base, slug, seq.Add(1))
				if err != nil {
					b.Error(err)
					return
				}
				if good {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), time.Since(start)
}

// openLoop starts one page+submit every 1/rate seconds regardless of how
// long earlier ones take, and collects latencies (ms).
func openLoop(b *testing.B, cl *http.Client, base, slug string, seq *atomic.Int64, rate int, d time.Duration) (post, pair []float64, sent int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		<-tick.C
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			good, lat, err := submitOnce(cl, base, slug, seq.Add(1))
			if err != nil || !good {
				b.Errorf("open loop: %v %v", good, err)
				return
			}
			mu.Lock()
			post = append(post, float64(lat.Microseconds())/1000)
			pair = append(pair, float64(time.Since(start).Microseconds())/1000)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return post, pair, sent
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

func median(xs []float64) float64 { return pct(xs, 50) }

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
