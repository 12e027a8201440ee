package services

import (
	"context"
	"testing"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

func TestRoles(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	s := NewRoleService(db, NewAuditService(db))
	r, err := s.RoleOf(ctx, "ww1", "zhangsan")
	if err != nil || r.Role != RoleStaff {
		t.Fatalf("default role %+v %v", r, err)
	}
	if err := s.SetRole(ctx, StaffRole{CorpID: "ww1", UserID: "lisi", Role: RoleAdmin}, "local", "1"); err != nil {
		t.Fatalf("role without departments: %v", err)
	}
	if err := s.SetRole(ctx, StaffRole{CorpID: "ww1", UserID: "zhangsan", Role: "owner"}, "local", "1"); ErrorCode(err) != EINVALID {
		t.Fatalf("bad role: %v", err)
	}
	if err := s.SetRole(ctx, StaffRole{CorpID: "ww1", UserID: "zhangsan", Role: RoleManager, DepartmentIDs: []int64{2, 3}}, "local", "1"); err != nil {
		t.Fatal(err)
	}
	r, err = s.RoleOf(ctx, "ww1", "zhangsan")
	if err != nil || r.Role != RoleManager || len(r.DepartmentIDs) != 2 {
		t.Fatalf("manager %+v %v", r, err)
	}
	if r, _ := s.RoleOf(ctx, "ww2", "zhangsan"); r.Role != RoleStaff {
		t.Fatal("role leaked across corps")
	}
}
