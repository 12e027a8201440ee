package services

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testBox(t testing.TB) *pii.Box {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	box, err := pii.NewBox(map[byte][]byte{1: key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func newIdentities(t testing.TB) (*IdentityService, *sqlx.DB) {
	t.Helper()
	db := pgtest.NewDB(t)
	return NewIdentityService(db, testBox(t)), db
}

// id builders for the scenarios
func unionid(v string) IdentityInput { return IdentityInput{Kind: KindUnionID, Key: v} }
func oaOpenID(v string) IdentityInput {
	return IdentityInput{Kind: KindOAOpenID, Scope: "wxoa0001", Key: v}
}
func mpOpenID(v string) IdentityInput {
	return IdentityInput{Kind: KindMPOpenID, Scope: "wxmp0001", Key: v}
}
func external(v string) IdentityInput {
	return IdentityInput{Kind: KindExternalUserID, Scope: "ww0001", Key: v}
}
func phone(v string) IdentityInput { return IdentityInput{Kind: KindPhone, Key: v} }
func verifiedPhone(v string) IdentityInput {
	return IdentityInput{Kind: KindPhone, Key: v, Verified: true}
}
func lead(v string) IdentityInput { return IdentityInput{Kind: KindCRMLead, Key: v} }

func obs(src string, ids ...IdentityInput) Observation {
	return Observation{Source: src, Ref: src + ":1", OccurredAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), Identities: ids}
}

func mustLink(t *testing.T, s *IdentityService, o Observation) LinkResult {
	t.Helper()
	r, err := s.Link(context.Background(), o)
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	return r
}

func userOf(t *testing.T, s *IdentityService, in IdentityInput) int64 {
	t.Helper()
	u, err := s.FindUserByIdentity(context.Background(), in.Kind, in.Scope, in.Key)
	if err != nil {
		t.Fatalf("FindUserByIdentity(%s %s): %v", in.Kind, in.Key, err)
	}
	return u.ID
}

// TestLinkGolden walks the flows of the seed documents, one observation after
// another, and checks who owns what after each step.
func TestLinkGolden(t *testing.T) {
	ctx := context.Background()
	type step struct {
		name    string
		setup   func(t *testing.T, s *IdentityService, db *sqlx.DB)
		obs     Observation
		outcome string
		check   func(t *testing.T, s *IdentityService, r LinkResult)
	}
	sameUser := func(ins ...IdentityInput) func(t *testing.T, s *IdentityService, r LinkResult) {
		return func(t *testing.T, s *IdentityService, r LinkResult) {
			for _, in := range ins {
				if got := userOf(t, s, in); got != r.UserID {
					t.Errorf("%s %s in user %d, want %d", in.Kind, in.Key, got, r.UserID)
				}
			}
		}
	}
	scenarios := []struct {
		name  string
		steps []step
	}{
		{"fan fills in a phone on a micro-page", []step{
			{name: "fan", obs: obs("oa", oaOpenID("oFan1"), unionid("uFan1")), outcome: OutcomeCreated},
			{name: "form", obs: obs("form", oaOpenID("oFan1"), phone("13912345678")), outcome: OutcomeAttached,
				check: sameUser(oaOpenID("oFan1"), unionid("uFan1"), phone("139 1234 5678"))},
		}},
		{"WeCom external contact carries the fan's unionid", []step{
			{name: "fan", obs: obs("oa", oaOpenID("oFan2"), unionid("uFan2")), outcome: OutcomeCreated},
			{name: "contact", obs: obs("wecom", external("wmC2"), unionid("uFan2")), outcome: OutcomeAttached,
				check: sameUser(oaOpenID("oFan2"), external("wmC2"))},
		}},
		{"mini-program user gives a verified phone", []step{
			{name: "fan form", obs: obs("form", oaOpenID("oFan3"), unionid("uFan3"), phone("13912340003")), outcome: OutcomeCreated},
			{name: "mp", obs: obs("mp", mpOpenID("oMp3"), unionid("uFan3"), verifiedPhone("13912340003")), outcome: OutcomeAttached,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					ids, err := s.Identities(ctx, r.UserID)
					if err != nil {
						t.Fatal(err)
					}
					for _, i := range ids {
						if i.Kind == KindPhone && (!i.Verified || i.Phone != "+8613912340003") {
							t.Errorf("phone %+v: want verified +8613912340003", i)
						}
					}
					if len(ids) != 4 || ids[0].Kind != KindUnionID {
						t.Errorf("identities %d, first %s", len(ids), ids[0].Kind)
					}
				}},
		}},
		{"CRM lead with a phone before the fan registers", []step{
			{name: "lead", obs: obs("crm", lead("L4"), phone("13912340004")), outcome: OutcomeCreated},
			{name: "fan registers", obs: obs("form", oaOpenID("oFan4"), unionid("uFan4"), phone("13912340004")),
				outcome: OutcomeAttached, check: sameUser(lead("L4"), unionid("uFan4"), oaOpenID("oFan4"))},
		}},
		{"QR-code contact registers with a phone known to the CRM", []step{
			{name: "contact", obs: obs("wecom", external("wmC5")), outcome: OutcomeCreated},
			{name: "lead", obs: obs("crm", lead("L5"), phone("13912340005")), outcome: OutcomeCreated},
			{name: "registers", obs: obs("form", external("wmC5"), phone("13912340005")), outcome: OutcomeMerged,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					sameUser(lead("L5"), external("wmC5"))(t, s, r)
					if len(r.MergedFrom) != 1 {
						t.Fatalf("merged from %v", r.MergedFrom)
					}
					// an absorbed id still resolves to its survivor
					u, err := s.FindUserByID(ctx, r.MergedFrom[0])
					if err != nil || u.ID != r.UserID || u.RequestedID != r.MergedFrom[0] {
						t.Fatalf("absorbed %d resolves to %+v, %v", r.MergedFrom[0], u, err)
					}
					log, err := s.MergeLog(ctx, r.MergedFrom[0])
					if err != nil || len(log) != 1 || log[0].ViaKind != "phone" || log[0].Source != "form" {
						t.Fatalf("merge log %+v %v", log, err)
					}
				}},
		}},
		{"a phone shared by two unionids is a conflict, not a merge", []step{
			{name: "first", obs: obs("form", unionid("uA6"), phone("13912340006")), outcome: OutcomeCreated},
			{name: "second", obs: obs("form", unionid("uB6"), phone("13912340006")), outcome: OutcomeConflict,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					if userOf(t, s, unionid("uB6")) != r.UserID || userOf(t, s, phone("13912340006")) == r.UserID {
						t.Error("uB6 should be alone; the phone should stay with uA6")
					}
					cs, _ := s.Conflicts(ctx, ConflictFilter{UserID: r.UserID})
					if len(cs) != 1 || cs[0].Reason != "unionid" || cs[0].ViaKind != "phone" {
						t.Fatalf("conflicts %+v", cs)
					}
				}},
		}},
		{"a blocked phone never links", []step{
			{name: "a", obs: obs("crm", lead("L7a"), phone("13800138000")), outcome: OutcomeCreated},
			{name: "b", obs: obs("crm", lead("L7b"), phone("13800138000")), outcome: OutcomeCreated,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					if userOf(t, s, lead("L7a")) == r.UserID || len(r.Blocked) != 1 || r.IdentityIDs[1] != 0 {
						t.Fatalf("blocked phone linked: %+v", r)
					}
					if _, err := s.FindUserByPhone(ctx, "13800138000"); ErrorCode(err) != ENOTFOUND {
						t.Fatalf("blocked phone stored: %v", err)
					}
				}},
			{name: "only blocked", obs: obs("crm", phone("13333333333")), outcome: "invalid"},
			{name: "configured", setup: func(t *testing.T, s *IdentityService, _ *sqlx.DB) {
				if err := s.BlockValue(ctx, KindPhone, "13912340077", "shared office line"); err != nil {
					t.Fatal(err)
				}
			}, obs: obs("crm", lead("L7c"), phone("13912340077")), outcome: OutcomeCreated,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					if len(r.Blocked) != 1 {
						t.Fatalf("configured block ignored: %+v", r)
					}
				}},
		}},
		{"the phone cap", []step{
			{name: "u", obs: obs("mp", unionid("uP8"), phone("13912340081"), phone("13912340082"), phone("13912340083")), outcome: OutcomeCreated},
			{name: "fourth phone", obs: obs("form", unionid("uP8"), phone("13912340084")), outcome: OutcomeConflict,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					if userOf(t, s, phone("13912340084")) == r.UserID {
						t.Error("a fourth phone joined")
					}
				}},
			{name: "merge over the cap", obs: obs("form", lead("L8"), phone("13912340085")), outcome: OutcomeCreated},
			{name: "bridge", obs: obs("form", unionid("uP8"), lead("L8")), outcome: OutcomeConflict,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					cs, _ := s.Conflicts(ctx, ConflictFilter{UserID: r.UserID, Status: "open"})
					if len(cs) != 2 || cs[0].Reason != "max_phones" {
						t.Fatalf("conflicts %+v", cs)
					}
				}},
		}},
		{"split then no automatic re-merge", []step{
			{name: "u", obs: obs("form", unionid("uS9"), phone("13912340009"), lead("L9")), outcome: OutcomeCreated},
			{name: "split", setup: func(t *testing.T, s *IdentityService, _ *sqlx.DB) {
				u := userOf(t, s, unionid("uS9"))
				ids, _ := s.Identities(ctx, u)
				var move []int64
				for _, i := range ids {
					if i.Kind != KindUnionID {
						move = append(move, i.ID)
					}
				}
				r, err := s.Split(ctx, u, move, "wrong phone", "admin")
				if err != nil || r.Moved != 2 {
					t.Fatalf("split %+v %v", r, err)
				}
				if userOf(t, s, phone("13912340009")) != r.NewUserID || userOf(t, s, lead("L9")) != r.NewUserID {
					t.Fatal("split did not move")
				}
			}, obs: obs("form", unionid("uS9"), phone("13912340009"), lead("L9")), outcome: OutcomeConflict,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					if userOf(t, s, phone("13912340009")) == r.UserID {
						t.Fatal("re-merged after split")
					}
					cs, _ := s.Conflicts(ctx, ConflictFilter{UserID: r.UserID})
					if len(cs) != 1 || cs[0].Reason != "split" {
						t.Fatalf("conflicts %+v", cs)
					}
				}},
		}},
		{"merging on an unverified phone can be forbidden", []step{
			{name: "a", obs: obs("oa", unionid("uV10"), verifiedPhone("13912340010")), outcome: OutcomeCreated},
			{name: "b", setup: func(t *testing.T, _ *IdentityService, db *sqlx.DB) {
				db.MustExec(`UPDATE identity_settings SET merge_unverified_phone = false`)
			}, obs: obs("crm", lead("L10")), outcome: OutcomeCreated},
			{name: "bridge", obs: obs("form", lead("L10"), phone("13912340010")), outcome: OutcomeConflict,
				check: func(t *testing.T, s *IdentityService, r LinkResult) {
					cs, _ := s.Conflicts(ctx, ConflictFilter{UserID: r.UserID})
					if len(cs) != 1 || cs[0].Reason != "unverified_phone" {
						t.Fatalf("conflicts %+v", cs)
					}
				}},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s, db := newIdentities(t)
			for _, st := range sc.steps {
				if st.setup != nil {
					st.setup(t, s, db)
				}
				r, err := s.Link(ctx, st.obs)
				if st.outcome == "invalid" {
					if ErrorCode(err) != EINVALID {
						t.Fatalf("%s: want EINVALID, got %+v %v", st.name, r, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if r.Outcome != st.outcome {
					t.Fatalf("%s: outcome %s, want %s (%+v)", st.name, r.Outcome, st.outcome, r)
				}
				if st.check != nil {
					st.check(t, s, r)
				}
			}
			checkInvariants(t, db)
		})
	}
}

// checkInvariants verifies the counters and the merged_into pointers.
func checkInvariants(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var bad []string
	err := db.Select(&bad, `SELECT format('user %s: n=%s/%s phones=%s/%s merged_into=%s', u.id, u.n_identities,
        count(i.id), u.n_phones, count(i.id) FILTER (WHERE i.kind = 'phone'), u.merged_into)
FROM marketing_users u LEFT JOIN identities i ON i.user_id = u.id
GROUP BY u.id
HAVING u.n_identities <> count(i.id) OR u.n_phones <> count(i.id) FILTER (WHERE i.kind = 'phone')
    OR (u.merged_into IS NOT NULL AND (count(i.id) > 0 OR
        (SELECT merged_into FROM marketing_users s WHERE s.id = u.merged_into) IS NOT NULL))`)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

var _ = fmt.Sprint
