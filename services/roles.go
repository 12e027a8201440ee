package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// StaffRole is the role of a WeCom employee in this app.
type StaffRole struct {
	CorpID        string  `db:"corp_id"`
	UserID        string  `db:"userid"`
	Role          string  `db:"role"`
	DepartmentIDs []int64 `db:"-"`
}

// RoleService answers and changes employees' roles. Checks of what a role may
// see live in the services that own the data; this only stores who is what.
type RoleService struct {
	db    *sqlx.DB
	audit *AuditService
}

// NewRoleService returns the service.
func NewRoleService(db *sqlx.DB, audit *AuditService) *RoleService {
	return &RoleService{db: db, audit: audit}
}

// RoleOf returns the employee's role; RoleStaff when none was granted.
func (s *RoleService) RoleOf(ctx context.Context, corpID, userID string) (StaffRole, error) {
	r := StaffRole{CorpID: corpID, UserID: userID, Role: RoleStaff}
	var depts pq.Int64Array
	err := s.db.QueryRowxContext(ctx, `SELECT role, department_ids FROM staff_roles WHERE corp_id = $1 AND userid = $2`,
		corpID, userID).Scan(&r.Role, &depts)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("roles: %w", err)
	}
	r.DepartmentIDs = depts
	return r, nil
}

// SetRole grants role to the employee (managers over departmentIDs) and
// audits who did it. Returns EINVALID for an unknown role.
func (s *RoleService) SetRole(ctx context.Context, r StaffRole, actorKind, actorID string) error {
	if r.Role != RoleAdmin && r.Role != RoleManager && r.Role != RoleStaff {
		return Invalid("请检查输入", map[string]string{"role": "角色只能是 admin、manager 或 staff"})
	}
	if r.DepartmentIDs == nil {
		r.DepartmentIDs = []int64{} // the column is NOT NULL; nil would encode as NULL
	}
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO staff_roles (corp_id, userid, role, department_ids, granted_by) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (corp_id, userid) DO UPDATE SET role = $3, department_ids = $4, granted_by = $5, granted_at = now()`,
			r.CorpID, r.UserID, r.Role, pq.Int64Array(r.DepartmentIDs), actorKind+":"+actorID); err != nil {
			return fmt.Errorf("roles: set: %w", err)
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: actorKind, ActorID: actorID, Action: "role_changed",
			TargetKind: "employee", TargetID: r.UserID, Detail: map[string]any{"role": r.Role, "departments": r.DepartmentIDs}})
	})
}
