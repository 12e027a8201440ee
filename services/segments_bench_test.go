package services

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

// loadSegmentBench fills a database with 100,000 marketing users: 60 %
// WeCom customers (one relation each, two of 50 tags, a third from one of
// 20 channel QR codes), 50 % OA fans, 30 % phones, 20 % members with a
// level, three moments per identity over a year (every 7th customer
// registered for form 1), then analyses it as production would be.
func loadSegmentBench(tb testing.TB) *sqlx.DB {
	tb.Helper()
	db := pgtest.NewDB(tb)
	for _, q := range []string{
		`UPDATE wecom_settings SET corp_id = 'wwbench'`,
		`INSERT INTO marketing_users (n_identities) SELECT 2 FROM generate_series(1, 100000)`,
		`INSERT INTO identities (user_id, kind, scope, key, first_seen, last_seen)
         SELECT id, 'wecom_external_userid', 'wwbench', 'wm' || id, now(), now() FROM marketing_users WHERE id % 10 < 6`,
		`INSERT INTO identities (user_id, kind, scope, key, first_seen, last_seen)
         SELECT id, 'oa_openid', 'wxoa', 'o' || id, now(), now() FROM marketing_users WHERE id % 2 = 0`,
		`INSERT INTO identities (user_id, kind, scope, key, phone, first_seen, last_seen)
         SELECT id, 'phone', '', 'ph' || id, '\x01', now(), now() FROM marketing_users WHERE id % 10 >= 7`,
		`INSERT INTO wecom_follows (corp_id, userid, external_userid, state, tag_ids, createtime)
         SELECT 'wwbench', 'emp' || (id % 20), 'wm' || id, CASE WHEN id % 3 = 0 THEN 'ch' || (id % 20) ELSE '' END,
                ARRAY['tag' || (id % 50), 'tag' || ((id / 50) % 50)], now() - (id % 100) * interval '1 day'
         FROM marketing_users WHERE id % 10 < 6`,
		`INSERT INTO moments (identity_id, kind, occurred_at, channel, detail, dedup_key)
         SELECT i.id, CASE WHEN g = 1 AND i.user_id % 7 = 0 THEN 'form_submitted' ELSE 'wecom_added' END,
                now() - ((i.user_id * g) % 365) * interval '1 day', CASE WHEN g = 2 THEN 'oa_qr' || (i.user_id % 10) ELSE '' END,
                CASE WHEN g = 1 AND i.user_id % 7 = 0 THEN '{"form_id": 1}'::jsonb ELSE '{}' END, 'bench:' || i.id || ':' || g
         FROM identities i, generate_series(1, 3) g`,
		`INSERT INTO member_level_state (user_id, level_id)
         SELECT id, (SELECT min(id) FROM member_levels) + id % 3 FROM marketing_users WHERE id % 5 = 0`,
		`VACUUM ANALYZE`,
	} {
		if _, err := db.Exec(q); err != nil {
			tb.Fatalf("%.60s: %v", q, err)
		}
	}
	return db
}

var benchFilters = map[string]SegmentFilter{
	"all":          {},
	"tag":          {TagIDs: []string{"tag7"}},
	"exclude_tag":  {ExcludeTagIDs: []string{"tag7", "tag8"}},
	"channel":      {Channels: []string{"ch3", "oa_qr4"}},
	"has_oa_phone": {HasKinds: []string{"oa_openid"}, LacksKinds: []string{"phone"}},
	"level":        {LevelIDs: []int64{1}},
	"form":         {FormID: 1, FormMode: FormRegistered},
	"not_form":     {FormID: 1, FormMode: FormNotRegistered},
	"active_30d":   {ActiveWithinDays: 30},
	"inactive":     {InactiveSince: time.Now().AddDate(0, -1, 0).Format(time.DateOnly)},
	"combined":     {TagIDs: []string{"tag7", "tag9"}, HasKinds: []string{"wecom_external_userid"}, ActiveWithinDays: 90},
}

// BenchmarkSegmentCount100k measures Count per filter kind at 100k users.
// Run: go test -run '^$' -bench SegmentCount100k ./services/
func BenchmarkSegmentCount100k(b *testing.B) {
	db := loadSegmentBench(b)
	svc := NewSegmentService(db, NewAuditService(db))
	ctx := context.Background()
	for name, f := range benchFilters {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Count(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	explainSegment(b, db, benchFilters["combined"])
}

// explainSegment logs the plan of a filter's count, to see the indexes used.
func explainSegment(tb testing.TB, db *sqlx.DB, f SegmentFilter) {
	q := compileSegment(f, time.Now())
	var plan []string
	if err := db.Select(&plan, `EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM marketing_users u WHERE `+q.where(), q.args...); err != nil {
		tb.Fatal(err)
	}
	tb.Log("\n" + strings.Join(plan, "\n"))
}
