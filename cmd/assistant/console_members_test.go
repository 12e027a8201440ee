package main

import (
	"context"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

// A level change made in the console shows in the WeCom sidebar: on the
// member identity's chip and as a member_level_changed moment.
func TestConsoleLevelChangeShowsInSidebar(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{})
	app.employee(t, "alice", "Alice")
	_, ext := app.customer(t, "alice", "客户甲", "")
	alice := noRedirect()
	app.signIn(t, alice, "alice")
	if code, body := get(t, alice, app.URL+"/sidebar/c/"+ext, true); code != 200 || strings.Contains(body, "银卡会员") {
		t.Fatalf("before: %d", code)
	}
	ctx := context.Background()
	r, err := app.IDs.Link(ctx, services.Observation{Source: "crm", Ref: "crm:M-7", Identities: []services.IdentityInput{
		{Kind: services.KindExternalUserID, Scope: app.CorpID, Key: ext}, {Kind: services.KindMember, Scope: "crm", Key: "M-7"}}})
	if err != nil {
		t.Fatal(err)
	}
	members := services.NewMemberService(app.DB, services.NewAuditService(app.DB))
	admin := services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin}
	if _, err := members.AdjustGrowth(ctx, admin, r.UserID, 1200, "活动奖励"); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, alice, app.URL+"/sidebar/c/"+ext, true)
	if code != 200 || !strings.Contains(body, "银卡会员") {
		t.Fatalf("after: %d, level not shown: %.400s", code, body)
	}
	if st, err := members.MemberLevelOf(ctx, r.UserID); err != nil || st.Level.Name != "银卡会员" {
		t.Fatalf("lookup: %+v %v", st, err)
	}
}
