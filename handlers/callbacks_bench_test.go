package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// BenchmarkCallbackAck measures, in one run: (1) the HTTP answer time of
// /callbacks/wecom for signed and encrypted bodies sent open-loop at 2,000
// events/s (targets: p99 ≤ 5 ms at that rate), alternating with rounds
// against an endpoint that only runs SELECT 1 on the same pool at the same
// rate (the machine's floor for anything that touches the database);
// (2) the inbox insert against a plain single-row insert into a bare table,
// measured alternately (target: inbox rate ≥ 0.9 × plain rate). Run with
// -benchtime=1x.
func BenchmarkCallbackAck(b *testing.B) {
	env := newWeComEnv(b, true)
	// The server's pool (cmd/assistant configurePool): idle = open, so bursts
	// do not reopen connections (the test default keeps 2 idle).
	env.db.SetMaxOpenConns(24)
	env.db.SetMaxIdleConns(24)
	const n, rate, rounds = 6000, 2000, 2
	reqs := sealedEvents(b, env, n)
	ping := selectOneServer(b, env)
	// as the server does at start (cmd/assistant serve): a cold pool forks
	// backends during the first burst, tens of milliseconds at p99
	if err := services.WarmPool(context.Background(), env.db, 8); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
	b.ResetTimer()
	var ack, floor []time.Duration
	var sending time.Duration
	per := n / rounds
	for r := range rounds { // A B A B: callbacks, then SELECT 1
		lat, took := openLoopPost(b, client, rate, reqs[r*per:(r+1)*per], env.srv.URL)
		ack, sending = append(ack, lat...), sending+took
		lat, _ = openLoopPost(b, client, rate, reqs[:per], ping.URL)
		floor = append(floor, lat...)
	}
	b.StopTimer()
	slices.Sort(ack)
	slices.Sort(floor)
	p99, p50, floor99 := ack[len(ack)*99/100], ack[len(ack)/2], floor[len(floor)*99/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "ack-p99-ms")
	b.ReportMetric(float64(p50.Microseconds())/1000, "ack-p50-ms")
	b.ReportMetric(float64(floor99.Microseconds())/1000, "select1-p99-ms")
	// the offered rate: below 2,000 only when the sender fell behind schedule
	b.ReportMetric(float64(n)/sending.Seconds(), "events/s")
	if got := env.count(`SELECT count(*) FROM wecom_inbox`); got != n {
		b.Fatalf("stored %d of %d", got, n)
	}
	ratio := insertRatio(b, env, 3000)
	b.ReportMetric(ratio, "inbox/plain-rate")
	b.Logf("ack p50 %s p99 %s at %.0f events/s (SELECT 1 endpoint p99 %s); inbox insert rate = %.2f × plain insert",
		p50, p99, float64(n)/sending.Seconds(), floor99, ratio)
}

// selectOneServer answers a POST by reading its body and running SELECT 1
// on the environment's pool: the baseline of the callback benchmark.
func selectOneServer(b *testing.B, env *wecomEnv) *httptest.Server {
	e := gin.New()
	e.POST("/callbacks/wecom", func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		var one int
		if err := env.db.QueryRowContext(c.Request.Context(), `SELECT 1`).Scan(&one); err != nil {
			c.String(http.StatusServiceUnavailable, err.Error())
			return
		}
		c.String(http.StatusOK, "success")
	})
	srv := httptest.NewServer(e)
	b.Cleanup(srv.Close)
	return srv
}

// openLoopPost posts reqs to base at rate per second, each on schedule
// (64 senders), and returns every answer time and how long sending took
// (on schedule: len(reqs)-1 intervals).
func openLoopPost(b *testing.B, client *http.Client, rate int, reqs []sealedReq, base string) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, len(reqs))
	jobs := make(chan int, len(reqs))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range jobs {
				t0 := time.Now()
				resp, err := client.Post(base+reqs[i].path, "text/xml", strings.NewReader(reqs[i].body))
				if err != nil || resp.StatusCode != 200 {
					b.Errorf("post %d: %v %v", i, err, resp)
					continue
				}
				// read to EOF, or the Transport cannot reuse the connection
				// and every callback pays a new TCP connection on both sides
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
			}
		})
	}
	began := time.Now()
	for i := range reqs { // on schedule: a ticker drops ticks when it falls behind
		time.Sleep(time.Until(began.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		jobs <- i
	}
	sent := time.Since(began)
	close(jobs)
	wg.Wait()
	return lat, sent
}

type sealedReq struct{ path, body string }

// sealedEvents builds n distinct change_external_tag callbacks as WeCom sends them.
func sealedEvents(b *testing.B, env *wecomEnv, n int) []sealedReq {
	cr := env.wecomCrypter()
	out := make([]sealedReq, n)
	for i := range out {
		plain := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"+
			"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_tag]]></Event>"+
			"<Id><![CDATA[et%08d]]></Id><TagType><![CDATA[tag]]></TagType><ChangeType><![CDATA[update]]></ChangeType></xml>",
			env.corp, 1714037059+i, i)
		ts, nonce := fmt.Sprint(1714037059+i), fmt.Sprint(100000+i)
		enc, sig, err := cr.Seal([]byte(plain), ts, nonce)
		if err != nil {
			b.Fatal(err)
		}
		q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
		out[i] = sealedReq{path: "/callbacks/wecom?" + q.Encode(),
			body: string(wxcrypto.Envelope{ToUserName: env.corp, Encrypt: enc, AgentID: "1000002"}.Marshal())}
	}
	return out
}

// insertRatio times inbox.Accept and a plain insert of the same payload
// alternately and returns plain time / inbox time (the inbox's relative rate).
func insertRatio(b *testing.B, env *wecomEnv, n int) float64 {
	ctx := context.Background()
	if _, err := env.db.Exec(`CREATE TABLE bench_plain (id bigserial PRIMARY KEY, payload bytea NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	payload := []byte(strings.Repeat("<xml>event</xml>", 30))
	// Prepared, as the inbox's accept statement is: both pay one round trip.
	insert, err := env.db.PreparexContext(ctx, `INSERT INTO bench_plain (payload) VALUES ($1)`)
	if err != nil {
		b.Fatal(err)
	}
	var inbox, plain time.Duration
	for i := range n {
		t0 := time.Now()
		if _, err := env.inbox.Accept(ctx, services.InboxEvent{CorpID: env.corp, Source: services.SourceWeCom,
			DedupKey: fmt.Sprintf("bench:%d", i), Event: "bench", Payload: payload}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := insert.ExecContext(ctx, payload); err != nil {
			b.Fatal(err)
		}
		inbox, plain = inbox+t1.Sub(t0), plain+time.Since(t1)
	}
	return float64(plain) / float64(inbox)
}
