package services

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// BenchmarkSyncContacts100k syncs 100k customer relations (20 members ×
// 5,000) from the sandbox into an empty database, end to end (API, mirror,
// identities, moments, checkpoints), and in the same run measures the
// anchor of performance-and-identity.md §6 B4: plain 100-row unnest INSERTs
// of the same rows (customers, relations, two identities each, one moment)
// into tables shaped like the real ones, without lookups or linking.
//
//	go test -run '^$' -bench SyncContacts100k -benchtime 1x ./services/
func BenchmarkSyncContacts100k(b *testing.B) {
	const members, per = 20, 5000
	e := newSyncEnv(b)
	e.seed(b, sandbox.SeedInput{Employees: members, WeChatUsers: members * per, ContactsPerEmployee: per})
	ctx := context.Background()
	pages := fetchAllPages(b, e)
	e.db.MustExec(`CREATE TABLE b_contacts (LIKE wecom_external_contacts INCLUDING ALL);
CREATE TABLE b_follows (LIKE wecom_follows INCLUDING ALL);
CREATE TABLE b_identities (LIKE identities INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE b_moments (LIKE moments INCLUDING DEFAULTS INCLUDING INDEXES)`)
	var syncDur, plainDur time.Duration
	for i := 0; i < b.N; i++ {
		e.db.MustExec(`TRUNCATE moments, identities, marketing_users, wecom_external_contacts, wecom_follows,
sync_jobs, b_contacts, b_follows, b_identities, b_moments CASCADE`)
		// alternate which goes first, so neither always runs on a warmer cache
		runPlain := func() { t0 := time.Now(); plainInsert(b, e, pages); plainDur += time.Since(t0) }
		if i%2 == 1 {
			runPlain()
		}
		t0 := time.Now()
		j, err := e.svc.Run(ctx, e.t, SyncContacts, "bench")
		syncDur += time.Since(t0)
		if err != nil || j.State != SyncDone {
			b.Fatalf("sync: %+v %v", j, err)
		}
		if i%2 == 0 {
			runPlain()
		}
		e.assertAllContacts(b, members*per)
	}
	n := float64(members * per * b.N)
	b.ReportMetric(syncDur.Seconds()/float64(b.N), "s/sync")
	b.ReportMetric(n/syncDur.Seconds(), "contacts/s")
	b.ReportMetric(n/plainDur.Seconds(), "plain_rows/s")
	b.ReportMetric(plainDur.Seconds()/syncDur.Seconds(), "sync/plain")
}

// fetchAllPages reads every relation once, outside the timings.
func fetchAllPages(b *testing.B, e *syncEnv) [][]wecom.ContactRelation {
	ctx := context.Background()
	users, err := e.t.Client.FollowUsers(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var out [][]wecom.ContactRelation
	cursor := ""
	for {
		rows, next, err := e.t.Client.BatchGetByUser(ctx, users, cursor, 100)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, rows)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// plainInsert writes the same rows as the sync with one unnest INSERT per
// table and page: the physical floor of the bulk sync.
func plainInsert(b *testing.B, e *syncEnv, pages [][]wecom.ContactRelation) {
	ctx := context.Background()
	var nextID int64
	for _, rows := range pages {
		var ext, name, union, user, state, dk, kinds, keys, det []string
		var ids, idents []int64
		for _, r := range rows {
			ext, name, union = append(ext, r.Contact.ExternalUserID), append(name, r.Contact.Name), append(union, r.Contact.UnionID)
			user, state = append(user, r.Follow.UserID), append(state, r.Follow.State)
			for _, k := range [][2]string{{"wecom_external_userid", r.Contact.ExternalUserID}, {"unionid", r.Contact.UnionID}} {
				nextID++
				ids, kinds, keys = append(ids, nextID), append(kinds, k[0]), append(keys, k[1])
			}
			idents = append(idents, nextID-1)
			dk = append(dk, fmt.Sprintf("wecom_added:%s:%s:%d", r.Follow.UserID, r.Contact.ExternalUserID, r.Follow.CreateTime))
			d, _ := json.Marshal(map[string]any{"state": r.Follow.State, "add_way": r.Follow.AddWay})
			det = append(det, string(d))
		}
		tx := e.db.MustBeginTx(ctx, nil)
		tx.MustExec(`INSERT INTO b_contacts (corp_id, external_userid, name, unionid) SELECT 'c', * FROM unnest($1::text[], $2::text[], $3::text[])`,
			pq.Array(ext), pq.Array(name), pq.Array(union))
		tx.MustExec(`INSERT INTO b_follows (corp_id, userid, external_userid, state) SELECT 'c', * FROM unnest($1::text[], $2::text[], $3::text[])`,
			pq.Array(user), pq.Array(ext), pq.Array(state))
		tx.MustExec(`INSERT INTO b_identities (id, user_id, kind, scope, key, first_seen, last_seen)
SELECT x.id, x.id, x.k, '', x.v, now(), now() FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(id, k, v)`,
			pq.Array(ids), pq.Array(kinds), pq.Array(keys))
		tx.MustExec(`INSERT INTO b_moments (identity_id, kind, occurred_at, detail, dedup_key)
SELECT x.i, 'wecom_added', now(), x.d::jsonb, x.k FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(i, d, k)`,
			pq.Array(idents), pq.Array(det), pq.Array(dk))
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
