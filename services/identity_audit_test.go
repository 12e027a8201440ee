package services

import (
	"context"
	"testing"
)

// TestAudit: a history of links, merges and a split audits clean; injected
// drift is found, repaired by re-pointing only the drifted rows, and the
// repaired state audits clean again.
func TestAudit(t *testing.T) {
	ctx := context.Background()
	s, db := newIdentities(t)
	mustLink(t, s, obs("oa", oaOpenID("o1"), unionid("u1")))
	mustLink(t, s, obs("form", oaOpenID("o1"), phone("13912340001")))
	mustLink(t, s, obs("crm", lead("L1"), phone("13912340002")))
	mustLink(t, s, obs("form", unionid("u1"), phone("13912340002"))) // merge
	mustLink(t, s, obs("wecom", external("w3"), lead("L3")))
	mustLink(t, s, obs("crm", lead("L4"), phone("13912340004")))
	mustLink(t, s, obs("form", unionid("u5"), phone("13912340004"))) // attach
	u := userOf(t, s, unionid("u1"))
	if _, err := s.Split(ctx, u, []int64{identityID(t, s, u, KindCRMLead)}, "test", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Merge(ctx, userOf(t, s, lead("L3")), userOf(t, s, lead("L4")), "test", "t"); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Audit(ctx, false)
	if err != nil || rep.Drifted != 0 || rep.MixedComponents+rep.SpanningUsers != 0 || rep.Identities != 10 {
		t.Fatalf("clean audit: %+v %v", rep, err)
	}
	// drift: one identity pointed at the wrong user, and one user's keys taken over wholesale
	a, b := userOf(t, s, lead("L3")), userOf(t, s, unionid("u1"))
	db.MustExec(`UPDATE identities SET user_id = $1 WHERE kind = 'crm_lead' AND key = 'L3'`, b)
	victim := userOf(t, s, lead("L1"))
	db.MustExec(`UPDATE identities SET user_id = $1 WHERE user_id = $2`, a, victim)
	rep, err = s.Audit(ctx, false)
	if err != nil || rep.Drifted != 2 || rep.MixedComponents != 1 || rep.SpanningUsers != 1 {
		t.Fatalf("drift audit: %+v %v", rep, err)
	}
	rep, err = s.Audit(ctx, true)
	if err != nil || rep.Repaired != 2 || rep.NewUsers != 1 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	rep, err = s.Audit(ctx, false)
	if err != nil || rep.Drifted != 0 {
		t.Fatalf("after repair: %+v %v", rep, err)
	}
	if userOf(t, s, lead("L3")) != a || userOf(t, s, lead("L1")) == a {
		t.Fatal("repair put identities in the wrong users")
	}
	checkInvariants(t, db)
}

// TestAuditBulk audits a bulk-loaded graph (200k identities, 20k under -short).
func TestAuditBulk(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	s, db := newIdentities(t)
	bulkIdentities(t, db, n)
	rep, err := s.Audit(context.Background(), false)
	if err != nil || rep.Identities != n || rep.Components != n/2 || rep.Drifted != 0 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func identityID(t *testing.T, s *IdentityService, user int64, kind IdentityKind) int64 {
	t.Helper()
	ids, err := s.Identities(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ids {
		if i.Kind == kind {
			return i.ID
		}
	}
	t.Fatalf("user %d has no %s", user, kind)
	return 0
}
