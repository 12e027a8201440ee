package services

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// segFixture is four people of corp wwseg:
//
//	a: customer of emp1 (tag t1, channel QR "poster"), phone, OA fan, silver
//	   member, registered for form 7, active yesterday
//	b: customer of emp2 (tags t2 and a hostile tag id), active 40 days ago
//	c: OA fan only, scanned OA QR scene "oa_qr1" yesterday
//	d: phone only, no activity at all
type segFixture struct {
	db         *sqlx.DB
	svc        *SegmentService
	a, b, c, d int64
	silver     int64
}

const hostileTag = `t'); DROP TABLE segments; --`

func newSegFixture(t *testing.T) *segFixture {
	t.Helper()
	ids, db := newIdentities(t)
	f := &segFixture{db: db, svc: NewSegmentService(db, NewAuditService(db))}
	db.MustExec(`UPDATE wecom_settings SET corp_id = 'wwseg'`)
	now := time.Now()
	link := func(ref string, at time.Time, ch string, idents ...IdentityInput) int64 {
		r, err := ids.Link(context.Background(), Observation{Source: "test", Ref: ref, OccurredAt: at, Identities: idents,
			Moments: []MomentInput{{Kind: "wecom_added", Channel: ch, Title: ref}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.UserID
	}
	ext := func(k string) IdentityInput { return IdentityInput{Kind: KindExternalUserID, Scope: "wwseg", Key: k} }
	f.a = link("a", now.Add(-24*time.Hour), "poster", ext("eA"), IdentityInput{Kind: KindPhone, Key: "13912345601", Verified: true},
		IdentityInput{Kind: KindOAOpenID, Scope: "wxoa", Key: "oA"})
	f.b = link("b", now.Add(-40*24*time.Hour), "", ext("eB"))
	f.c = link("c", now.Add(-24*time.Hour), "oa_qr1", IdentityInput{Kind: KindOAOpenID, Scope: "wxoa", Key: "oC"})
	r, err := ids.Link(context.Background(), Observation{Source: "test", Ref: "d", OccurredAt: now,
		Identities: []IdentityInput{{Kind: KindPhone, Key: "13912345604"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.d = r.UserID
	db.MustExec(`INSERT INTO wecom_follows (corp_id, userid, external_userid, state, tag_ids) VALUES
        ('wwseg', 'emp1', 'eA', 'poster', '{t1}'), ('wwseg', 'emp2', 'eB', '', $1)`, "{t2,\""+`t'); DROP TABLE segments; --`+"\"}")
	db.MustExec(`DELETE FROM moments WHERE identity_id IN (SELECT id FROM identities WHERE user_id = $1)`, f.d)
	if err := db.Get(&f.silver, `SELECT id FROM member_levels WHERE name = '银卡会员'`); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`INSERT INTO member_level_state (user_id, level_id) VALUES ($1, $2)`, f.a, f.silver)
	db.MustExec(`INSERT INTO moments (identity_id, kind, occurred_at, channel, detail, dedup_key)
        SELECT min(id), 'form_submitted', now() - interval '2 days', 'form', '{"form_id": 7}', 'seg-form-a' FROM identities WHERE user_id = $1`, f.a)
	return f
}

// Every filter kind selects the people it should, counted and listed.
func TestSegmentCountsPerFilterKind(t *testing.T) {
	f := newSegFixture(t)
	yesterday := time.Now().Add(-24 * time.Hour).In(chinaTime).Format(time.DateOnly)
	cases := []struct {
		name   string
		filter SegmentFilter
		want   []int64
	}{
		{"everyone", SegmentFilter{}, []int64{f.a, f.b, f.c, f.d}},
		{"tag", SegmentFilter{TagIDs: []string{"t1"}}, []int64{f.a}},
		{"any of tags", SegmentFilter{TagIDs: []string{"t1", "t2"}}, []int64{f.a, f.b}},
		{"hostile tag is just a value", SegmentFilter{TagIDs: []string{hostileTag}}, []int64{f.b}},
		{"exclude tag", SegmentFilter{ExcludeTagIDs: []string{"t2"}}, []int64{f.a, f.c, f.d}},
		{"channel QR", SegmentFilter{Channels: []string{"poster"}}, []int64{f.a}},
		{"moment channel", SegmentFilter{Channels: []string{"oa_qr1"}}, []int64{f.c}},
		{"has OA openid", SegmentFilter{HasKinds: []string{"oa_openid"}}, []int64{f.a, f.c}},
		{"has customer and phone", SegmentFilter{HasKinds: []string{"wecom_external_userid", "phone"}}, []int64{f.a}},
		{"lacks phone", SegmentFilter{LacksKinds: []string{"phone"}}, []int64{f.b, f.c}},
		{"member level", SegmentFilter{LevelIDs: []int64{f.silver}}, []int64{f.a}},
		{"registered for form", SegmentFilter{FormID: 7, FormMode: FormRegistered}, []int64{f.a}},
		{"not registered for form", SegmentFilter{FormID: 7, FormMode: FormNotRegistered}, []int64{f.b, f.c, f.d}},
		{"active within 7 days", SegmentFilter{ActiveWithinDays: 7}, []int64{f.a, f.c}},
		{"active within 60 days", SegmentFilter{ActiveWithinDays: 60}, []int64{f.a, f.b, f.c}},
		{"no activity since yesterday", SegmentFilter{InactiveSince: yesterday}, []int64{f.b, f.d}},
		{"combined", SegmentFilter{HasKinds: []string{"oa_openid"}, ActiveWithinDays: 7, LacksKinds: []string{"phone"}}, []int64{f.c}},
	}
	ctx := context.Background()
	v := Operator{Kind: "local", ID: "1", Role: RoleAdmin}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := f.svc.Count(ctx, tc.filter)
			if err != nil || n != len(tc.want) {
				t.Fatalf("count = %d, %v; want %d", n, err, len(tc.want))
			}
			sg, err := f.svc.CreateSegment(ctx, v, SegmentInput{Name: tc.name, Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.svc.UserIDs(ctx, sg.ID)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("users = %v, %v; want %v", got, err, want)
			}
		})
	}
}

// Hostile values are data: no error, no match, the tables are intact; bad
// kinds, dates and sizes are refused with field messages.
func TestSegmentHostileAndBadInput(t *testing.T) {
	f := newSegFixture(t)
	ctx := context.Background()
	for _, v := range []string{`'; DROP TABLE segments; --`, `$1`, `x" OR 1=1 --`, `') OR true OR ('`, "\\", `%`} {
		for _, filter := range []SegmentFilter{{TagIDs: []string{v}}, {ExcludeTagIDs: []string{v}}, {Channels: []string{v}}} {
			n, err := f.svc.Count(ctx, filter)
			if err != nil {
				t.Fatalf("%q: %v", v, err)
			}
			if len(filter.ExcludeTagIDs) == 0 && n != 0 || len(filter.ExcludeTagIDs) > 0 && n != 4 {
				t.Errorf("%+v matched %d", filter, n)
			}
		}
	}
	var tables int
	f.db.Get(&tables, `SELECT count(*) FROM pg_tables WHERE tablename IN ('segments', 'marketing_users')`)
	if tables != 2 {
		t.Fatalf("tables left: %d", tables)
	}
	long := string(make([]byte, 65))
	bad := map[string]SegmentFilter{
		"kinds":              {HasKinds: []string{"phone' OR '1'='1"}},
		"inactive_since":     {InactiveSince: "2026-13-40"},
		"active_within_days": {ActiveWithinDays: -1},
		"tags":               {TagIDs: []string{long}},
		"form":               {FormID: 7, FormMode: "maybe"},
	}
	for field, filter := range bad {
		if _, err := f.svc.Count(ctx, filter); ErrorCode(err) != EINVALID || ErrorFields(err)[field] == "" {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// Create, update, delete: admins only, audited; unknown ids are ENOTFOUND.
func TestSegmentLifecycle(t *testing.T) {
	f := newSegFixture(t)
	ctx := context.Background()
	admin := Operator{Kind: "local", ID: "1", Role: RoleAdmin}
	if _, err := f.svc.CreateSegment(ctx, Operator{Kind: "wecom", ID: "mgr", Role: RoleManager}, SegmentInput{Name: "x"}); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("manager create: %v", err)
	}
	if _, err := f.svc.CreateSegment(ctx, admin, SegmentInput{Name: " "}); ErrorFields(err)["name"] == "" {
		t.Fatalf("empty name: %v", err)
	}
	sg, err := f.svc.CreateSegment(ctx, admin, SegmentInput{Name: "老客户", Filter: SegmentFilter{TagIDs: []string{"t1", "t1", " "}}})
	if err != nil || len(sg.Filter.TagIDs) != 1 {
		t.Fatalf("create: %+v %v", sg, err)
	}
	sg, err = f.svc.UpdateSegment(ctx, admin, sg.ID, SegmentInput{Name: "公众号粉丝", Filter: SegmentFilter{HasKinds: []string{"oa_openid"}}})
	if err != nil || sg.Name != "公众号粉丝" || len(sg.Filter.HasKinds) != 1 || len(sg.Filter.TagIDs) != 0 {
		t.Fatalf("update: %+v %v", sg, err)
	}
	list, err := f.svc.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := f.svc.DeleteSegment(ctx, admin, sg.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, sg.ID); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := f.svc.UserIDs(ctx, 424242); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("unknown: %v", err)
	}
	var audited int
	f.db.Get(&audited, `SELECT count(*) FROM audit_log WHERE action IN ('segment_created', 'segment_updated', 'segment_deleted')`)
	if audited != 3 {
		t.Fatalf("audited %d", audited)
	}
}
