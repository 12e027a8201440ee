package services

import (
	"context"
	"slices"
	"testing"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// TestManagersSeeTheDepartmentsBelowTheirs: carol manages 销售部 (2); erin is
// in 销售一组 (5, below 2) and follows wmC5. Carol sees wmC5 in the sidebar
// and in the console; frank, who manages 市场部 (3), sees neither; a deleted
// department no longer passes its members on.
func TestManagersSeeTheDepartmentsBelowTheirs(t *testing.T) {
	db := pgtest.NewDB(t)
	s, api := sidebarWorld(t, db)
	ctx := context.Background()
	db.MustExec(`INSERT INTO wecom_departments (corp_id, id, name, parent_id) VALUES
($1, 1, '公司', 0), ($1, 2, '销售部', 1), ($1, 3, '市场部', 1), ($1, 5, '销售一组', 2)`, corp)
	must(t, s.StaffSignedIn(ctx, corp, wecom.User{UserID: "erin", Name: "钱七", Departments: []int{5}}))
	must(t, s.StaffSignedIn(ctx, corp, wecom.User{UserID: "frank", Name: "孙八", Departments: []int{3}}))
	roles := NewRoleService(db, NewAuditService(db))
	must(t, roles.SetRole(ctx, StaffRole{CorpID: corp, UserID: "frank", Role: RoleManager, DepartmentIDs: []int64{3}}, "local", "1"))
	api.contacts["wmC5"] = wecom.ContactDetail{Contact: wecom.ExternalContact{ExternalUserID: "wmC5", Name: "客户五"},
		Follows: []wecom.FollowInfo{{UserID: "erin", CreateTime: 1714000000}}}
	must(t, s.ImportContact(ctx, Viewer{CorpID: corp, UserID: "erin"}, "wmC5", api))

	carol, frank := Viewer{CorpID: corp, UserID: "carol"}, Viewer{CorpID: corp, UserID: "frank"}
	if _, err := s.Profile(ctx, carol, "wmC5", nil); err != nil {
		t.Fatalf("carol (manager of the parent department): %v", err)
	}
	if _, err := s.Profile(ctx, frank, "wmC5", nil); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("frank (another department): %v", err)
	}
	sc, err := scopeOf(ctx, db, Operator{Kind: "wecom", ID: "carol", CorpID: corp, Role: RoleManager, DepartmentIDs: []int64{2}})
	must(t, err)
	if !slices.Contains(sc.employees, "erin") || !slices.Contains(sc.employees, "alice") || !slices.Contains(sc.employees, "carol") ||
		slices.Contains(sc.employees, "frank") {
		t.Fatalf("console scope of carol: %v", sc.employees)
	}

	db.MustExec(`UPDATE wecom_departments SET deleted_at = now() WHERE corp_id = $1 AND id = 5`, corp)
	if _, err := s.Profile(ctx, carol, "wmC5", nil); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("carol after 销售一组 was deleted: %v", err)
	}
}
