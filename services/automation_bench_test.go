package services

// The cost of the automation_enqueue trigger on the hot path that records
// moments: an identity link carrying a form_submitted moment (what every
// form registration does). Modes alternate in rounds on one durable
// cluster and report links/s relative to the trigger disabled:
//
//	go test ./services -run '^$' -bench AutomationTrigger -benchtime 1x
//
// none:    trigger off (what the rule service does while no rule is enabled)
// empty:   trigger on but no enabled rule (its early exit)
// nomatch: 20 enabled rules, none for this kind
// match:   20 enabled rules, one matching (one execution row per link)

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
)

func BenchmarkAutomationTrigger(b *testing.B) {
	db := durableDB(b)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := NewIdentityService(db, testBox(b))
	ctx := context.Background()
	for i := range 20 {
		db.MustExec(`INSERT INTO automation_rules (name, enabled, moment_kind, channel, action) VALUES ($1, false, 'wecom_added', $2, 'notify')`,
			fmt.Sprint("r", i), fmt.Sprint("ch", i))
	}
	db.MustExec(`INSERT INTO automation_rules (name, enabled, moment_kind, action) VALUES ('match', false, 'form_submitted', 'notify')`)
	var seq atomic.Int64
	link := func(*rand.Rand) error {
		n := seq.Add(1)
		_, err := s.Link(ctx, Observation{Source: "form", Ref: fmt.Sprint("f", n),
			Identities: []IdentityInput{{Kind: KindPhone, Key: fmt.Sprintf("139%08d", n)}, {Kind: KindOAOpenID, Scope: "wxapp", Key: fmt.Sprint("o", n)}},
			Moments: []MomentInput{{Identity: 0, Kind: "form_submitted", Channel: "form", Title: "报名",
				Detail: []byte(`{"form_id": 1, "channel": "sidebar"}`), DedupKey: fmt.Sprint("form_submitted:1:", n)}}})
		return err
	}
	modes := []struct{ name, setup string }{
		{"none", `ALTER TABLE moments DISABLE TRIGGER automation_enqueue; UPDATE automation_rules SET enabled = false`},
		{"empty", `ALTER TABLE moments ENABLE TRIGGER automation_enqueue; UPDATE automation_rules SET enabled = false`},
		{"nomatch", `UPDATE automation_rules SET enabled = (name <> 'match')`},
		{"match", `UPDATE automation_rules SET enabled = true`},
	}
	warm := rand.New(rand.NewPCG(1, 1))
	for range 2000 {
		if err := link(warm); err != nil {
			b.Fatal(err)
		}
	}
	rates := map[string][]float64{}
	for range 5 {
		for _, m := range modes {
			db.MustExec(m.setup)
			tps, _, err := runFor(4, roundLength(), link)
			if err != nil {
				b.Fatal(err)
			}
			rates[m.name] = append(rates[m.name], tps)
		}
	}
	base := median(rates["none"])
	for _, m := range modes {
		b.ReportMetric(median(rates[m.name]), m.name+"_links/s")
		if m.name != "none" {
			b.ReportMetric(median(rates[m.name])/base, m.name+"/none")
		}
	}
	b.Logf("links/s per round: %v", rates)
	for _, m := range modes[1:] {
		db.MustExec(m.setup)
		b.ReportMetric(triggerMicros(b, db, 300), m.name+"_trigger_µs")
	}
}

// triggerMicros is the median time PostgreSQL reports for the trigger on a
// one-row moments insert (EXPLAIN ANALYZE), which the machine's load
// disturbs far less than throughput.
func triggerMicros(b *testing.B, db *sqlx.DB, n int) float64 {
	var id int64
	if err := db.Get(&id, `SELECT min(id) FROM identities`); err != nil {
		b.Fatal(err)
	}
	var times []float64
	for i := range n {
		var raw []byte
		err := db.QueryRow(`EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO moments (identity_id, kind, occurred_at, detail, dedup_key)
VALUES ($1, 'form_submitted', now(), '{"form_id": 1}', $2)`, id, fmt.Sprint("explain:", i, ":", rand.Int64())).Scan(&raw)
		if err != nil {
			b.Fatal(err)
		}
		var plan []struct {
			Triggers []struct {
				Name string  `json:"Trigger Name"`
				Time float64 `json:"Time"`
			} `json:"Triggers"`
		}
		if err := json.Unmarshal(raw, &plan); err != nil || len(plan) == 0 {
			b.Fatal(err)
		}
		for _, t := range plan[0].Triggers {
			if t.Name == "automation_enqueue" {
				times = append(times, t.Time*1000)
			}
		}
	}
	return median(times)
}
