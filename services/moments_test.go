package services

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// heavyUser links one user with nIdent identities (CRM contacts around one
// lead, prefix p) and bulk-loads nMoments moments spread over them; several
// moments share a timestamp so the id tie-break is exercised.
func heavyUser(t testing.TB, s *IdentityService, db *sqlx.DB, p string, nIdent, nMoments int, base time.Time) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	var user int64
	for i := 0; i < nIdent-1; i++ {
		r, err := s.Link(ctx, Observation{Source: "crm", Ref: "seed", Identities: []IdentityInput{
			{Kind: KindCRMLead, Key: p + "lead"}, {Kind: KindCRMContact, Key: fmt.Sprintf("%sc%d", p, i)}}})
		if err != nil {
			t.Fatal(err)
		}
		user = r.UserID
	}
	var ids []int64
	if err := db.Select(&ids, `SELECT id FROM identities WHERE user_id = $1 ORDER BY id`, user); err != nil {
		t.Fatal(err)
	}
	if len(ids) != nIdent {
		t.Fatalf("%d identities, want %d", len(ids), nIdent)
	}
	db.MustExec(`INSERT INTO moments (identity_id, kind, occurred_at, title, dedup_key)
SELECT ($1::bigint[])[1 + g % cardinality($1::bigint[])],
       (ARRAY['form_viewed','material_sent','material_opened','wecom_tagged'])[1 + g % 4],
       $2::timestamptz - (g / 3) * interval '1 second', 'm' || g, $3 || g
FROM generate_series(1, $4::int) g`, pq.Array(ids), base, p+":", nMoments)
	db.MustExec(`ANALYZE moments`)
	return user, ids
}

type mkey struct {
	at time.Time
	id int64
}

func (a mkey) less(b mkey) bool { return a.at.Before(b.at) || (a.at.Equal(b.at) && a.id < b.id) }

// TestTimelineAcrossMerge: a user with 100k moments over 40 identities
// (10k under -short) is read page by page; between two pages another user is
// merged in. Pages come newest first, without duplicates or gaps, and after
// the merge they include the absorbed user's older moments.
func TestTimelineAcrossMerge(t *testing.T) {
	ctx := context.Background()
	s, db := newIdentities(t)
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	a, _ := heavyUser(t, s, db, "A", 40, n, base)
	b, _ := heavyUser(t, s, db, "B", 5, 2_000, base.Add(-6*time.Hour)) // older than the cursor at the merge, interleaved with A

	seen := map[int64]bool{}
	var last *mkey
	cursor, pages, merged := "", 0, false
	var mergeCursor mkey
	for {
		page, err := s.Timeline(ctx, a, TimelineQuery{Cursor: cursor, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Moments {
			k := mkey{m.OccurredAt, m.ID}
			if last != nil && !k.less(*last) {
				t.Fatalf("page %d: %v not older than %v", pages, k, *last)
			}
			if seen[m.ID] {
				t.Fatalf("moment %d twice", m.ID)
			}
			seen[m.ID], last = true, &k
		}
		pages++
		if page.Next == "" {
			break
		}
		cursor = page.Next
		if !merged && pages == n/1000 {
			if _, err := s.Merge(ctx, a, b, "same person", "test"); err != nil {
				t.Fatal(err)
			}
			merged, mergeCursor = true, *last
		}
	}
	// expected: every moment of A, and B's moments older than the cursor at the merge
	var want []struct {
		ID int64     `db:"id"`
		At time.Time `db:"occurred_at"`
		U  int64     `db:"owner"`
	}
	if err := db.Select(&want, `SELECT m.id, m.occurred_at, CASE WHEN m.dedup_key LIKE 'A:%' THEN 1 ELSE 2 END AS owner
FROM moments m WHERE m.dedup_key LIKE 'A:%' OR m.dedup_key LIKE 'B:%'`); err != nil {
		t.Fatal(err)
	}
	expected := 0
	for _, w := range want {
		if w.U == 1 || (mkey{w.At, w.ID}).less(mergeCursor) {
			expected++
			if !seen[w.ID] {
				t.Fatalf("moment %d (owner %d) missing", w.ID, w.U)
			}
		}
	}
	if !merged || expected != n+2000 {
		t.Fatalf("merged=%v expected=%d: the test did not cross the merge", merged, expected)
	}
	// the identity_merged moment is newer than the cursor, so the walk skipped it
	if len(seen) != expected {
		t.Fatalf("saw %d moments, want %d", len(seen), expected)
	}
	// the absorbed id answers the survivor's timeline; filters by kind work
	page, err := s.Timeline(ctx, b, TimelineQuery{Kinds: []MomentKind{"identity_merged"}})
	if err != nil || page.UserID != a || len(page.Moments) != 1 {
		t.Fatalf("absorbed timeline %+v %v", page, err)
	}
	page, err = s.Timeline(ctx, a, TimelineQuery{Kinds: []MomentKind{"material_sent", "wecom_tagged"}, Limit: 100})
	if err != nil || len(page.Moments) != 100 {
		t.Fatalf("kinds %d %v", len(page.Moments), err)
	}
	for _, m := range page.Moments {
		if m.Kind != "material_sent" && m.Kind != "wecom_tagged" {
			t.Fatalf("kind %s leaked through the filter", m.Kind)
		}
	}
	if _, err := s.Timeline(ctx, a, TimelineQuery{Cursor: "!!"}); ErrorCode(err) != EINVALID {
		t.Fatalf("bad cursor: %v", err)
	}
}

// TestMomentsDedup: replaying an observation with moments records nothing
// twice, and RecordMoments ignores replays too.
func TestMomentsDedup(t *testing.T) {
	ctx := context.Background()
	s, db := newIdentities(t)
	o := Observation{Source: "form", Ref: "f1:s1", OccurredAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
		Identities: []IdentityInput{oaOpenID("oD1"), phone("13912340101")},
		Moments: []MomentInput{{Identity: 1, Kind: "form_submitted", Title: "报名表", Detail: []byte(`{"form":1}`)},
			{Identity: 0, Kind: "form_viewed", DedupKey: "view:f1:oD1"}}}
	r1 := mustLink(t, s, o)
	r2 := mustLink(t, s, o)
	if r1.UserID != r2.UserID || r2.Outcome != OutcomeAttached {
		t.Fatalf("replay: %+v %+v", r1, r2)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM moments`)
	if n != 2 {
		t.Fatalf("%d moments after a replay, want 2", n)
	}
	rec := []MomentRecord{{IdentityID: r1.IdentityIDs[0], MomentInput: MomentInput{Kind: "material_opened", DedupKey: "open:1"}}}
	if k, err := s.RecordMoments(ctx, rec); err != nil || k != 1 {
		t.Fatalf("record %d %v", k, err)
	}
	if k, err := s.RecordMoments(ctx, rec); err != nil || k != 0 {
		t.Fatalf("replayed record %d %v", k, err)
	}
	page, err := s.Timeline(ctx, r1.UserID, TimelineQuery{})
	if err != nil || len(page.Moments) != 3 || page.Moments[0].Kind != "material_opened" {
		t.Fatalf("timeline %+v %v", page, err)
	}
	if page.Moments[1].IdentityKind != KindPhone && page.Moments[2].IdentityKind != KindPhone {
		t.Fatal("the form moment should sit on the phone identity")
	}
	bad := o
	bad.Moments = []MomentInput{{Identity: 5, Kind: "form_viewed"}}
	if _, err := s.Link(ctx, bad); ErrorCode(err) != EINVALID {
		t.Fatalf("moment on a missing identity: %v", err)
	}
}
