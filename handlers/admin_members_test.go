package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

// A member's level follows their growth: an admin's adjustment and the
// growth rules both move it, each change records member_level_changed, and
// the sidebar's lookup answers the new level.
func TestConsoleMemberLevels(t *testing.T) {
	env := newConsoleEnv(t)
	ctx := context.Background()
	m := env.link(services.IdentityInput{Kind: services.KindMember, Scope: "crm", Key: "M-1001"},
		services.IdentityInput{Kind: services.KindExternalUserID, Scope: testCorp, Key: "ext9"}).UserID
	path := userPath(m, "/growth")

	if w := env.do(http.MethodPost, path, "manager", url.Values{"points": {"1000"}}); w.Code != http.StatusForbidden {
		t.Fatalf("manager adjusts: %d", w.Code)
	}
	if w := env.do(http.MethodPost, userPath(env.u1, "/growth"), "admin", url.Values{"points": {"10"}}); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("growth for a non-member: %d", w.Code)
	}
	if w := env.do(http.MethodPost, path, "admin", url.Values{"points": {"1000"}, "reason": {"活动奖励"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("adjust: %d", w.Code)
	}
	st, err := env.members.MemberLevelOf(ctx, m)
	if err != nil || st.Level.Name != "银卡会员" || st.Points != 1000 {
		t.Fatalf("after +1000: %+v %v", st, err)
	}
	// the seeded rule: form_submitted +100; the fixture's link recorded one on m
	for i := 0; i < 40; i++ {
		env.link(services.IdentityInput{Kind: services.KindMember, Scope: "crm", Key: "M-1001"})
	}
	if w := env.do(http.MethodPost, "/admin/members/settle", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("settle: %d", w.Code)
	}
	st, _ = env.members.MemberLevelOf(ctx, m)
	if st.Points <= 1000 {
		t.Fatalf("rules credited nothing: %+v", st)
	}
	if w := env.do(http.MethodPost, path, "admin", url.Values{"points": {"5000"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("adjust: %d", w.Code)
	}
	if st, _ = env.members.MemberLevelOf(ctx, m); st.Level.Name != "金卡会员" {
		t.Fatalf("after +5000: %+v", st)
	}
	var titles []string
	if err := env.db.Select(&titles, `SELECT title FROM moments WHERE kind = 'member_level_changed' ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(titles, ",") != "会员等级变为银卡会员,会员等级变为金卡会员" {
		t.Fatalf("level moments: %q", titles)
	}
	w := env.do(http.MethodGet, userPath(m, ""), "admin", nil)
	if !strings.Contains(w.Body.String(), `data-testid="member-level">金卡会员<`) {
		t.Fatal("the user page does not show the level")
	}
	if n, _ := env.members.ApplyGrowthRules(ctx); n != 0 {
		t.Fatalf("a second pass credited %d members again", n)
	}
}
