package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// StaffDirectory answers who an employee is for the console: their role
// for WeCom sign-in, and the employees page over the synced mirror.
type StaffDirectory struct {
	db    *sqlx.DB
	roles *RoleService
}

// NewStaffDirectory returns the service.
func NewStaffDirectory(db *sqlx.DB, roles *RoleService) *StaffDirectory {
	return &StaffDirectory{db: db, roles: roles}
}

// StaffMember is a WeCom employee as the console sees them.
type StaffMember struct {
	CorpID        string
	UserID        string
	Name          string
	Role          string
	DepartmentIDs []int64
}

// StaffMember returns the employee's console role (from staff_roles) and
// name (from the mirror). An employee who left or was removed from the corp
// is ENOTFOUND, so their session ends at once.
func (s *StaffDirectory) StaffMember(ctx context.Context, corpID, userID string) (StaffMember, error) {
	var e struct {
		Name   string     `db:"name"`
		Status int        `db:"status"`
		Gone   *time.Time `db:"deleted_at"`
	}
	err := s.db.GetContext(ctx, &e, `SELECT name, status, deleted_at FROM wecom_employees WHERE corp_id = $1 AND userid = $2`,
		corpID, userID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) { // not mirrored yet: the role alone decides
		return StaffMember{}, fmt.Errorf("employees: staff member: %w", err)
	}
	if e.Gone != nil || e.Status == 5 {
		return StaffMember{}, Errorf(ENOTFOUND, "员工已离职")
	}
	r, err := s.roles.RoleOf(ctx, corpID, userID)
	if err != nil {
		return StaffMember{}, err
	}
	name := e.Name
	if name == "" {
		name = userID
	}
	return StaffMember{CorpID: corpID, UserID: userID, Name: name, Role: r.Role, DepartmentIDs: r.DepartmentIDs}, nil
}

// CorpID returns the connected corp (empty when WeCom is not set up yet).
func (s *StaffDirectory) CorpID(ctx context.Context) (string, error) {
	var corp string
	if err := s.db.GetContext(ctx, &corp, `SELECT corp_id FROM wecom_settings`); err != nil {
		return "", fmt.Errorf("employees: corp: %w", err)
	}
	return corp, nil
}

// StaffRow is one row of the employees page.
type StaffRow struct {
	UserID         string         `db:"userid"`
	Name           string         `db:"name"`
	Departments    pq.StringArray `db:"departments"` // names
	Position       string         `db:"position"`
	Status         int            `db:"status"`
	InVisibleRange bool           `db:"in_visible_range"`
	CustomerAccess bool           `db:"customer_contact"`
	LastSidebarAt  *time.Time     `db:"last_sidebar_at"`
	Role           string         `db:"role"`
	RoleDepts      pq.Int64Array  `db:"role_departments"`
	Customers      int            `db:"customers"`
	SyncedAt       time.Time      `db:"synced_at"`
}

// StaffPage is the employees page's data.
type StaffPage struct {
	Employees   []StaffRow
	Departments []DeptRow
	AppMode     string // self_built or on_behalf: licences apply to on_behalf
	LastSync    *time.Time
}

// DeptRow is a synced department.
type DeptRow struct {
	ID       int64  `db:"id"`
	Name     string `db:"name"`
	ParentID int64  `db:"parent_id"`
}

// Employees lists the synced employees of the connected corp with their
// roles. Admins only. Errors: EFORBIDDEN.
func (s *StaffDirectory) Employees(ctx context.Context, v Operator) (StaffPage, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return StaffPage{}, err
	}
	var p StaffPage
	if err := s.db.GetContext(ctx, &p.AppMode, `SELECT app_mode FROM wecom_settings`); err != nil {
		return p, fmt.Errorf("employees: settings: %w", err)
	}
	err := s.db.SelectContext(ctx, &p.Employees, `SELECT e.userid, e.name, e.position, e.status, e.in_visible_range,
    e.customer_contact, e.last_sidebar_at, e.synced_at,
    coalesce(r.role, 'staff') AS role, coalesce(r.department_ids, '{}') AS role_departments,
    ARRAY(SELECT d.name FROM wecom_departments d WHERE d.corp_id = e.corp_id AND d.id = ANY (e.departments) ORDER BY d.id) AS departments,
    (SELECT count(*) FROM wecom_follows f WHERE f.corp_id = e.corp_id AND f.userid = e.userid AND f.deleted_at IS NULL) AS customers
FROM wecom_employees e
LEFT JOIN staff_roles r ON r.corp_id = e.corp_id AND r.userid = e.userid
WHERE e.corp_id = (SELECT corp_id FROM wecom_settings) AND e.deleted_at IS NULL
ORDER BY e.name, e.userid LIMIT 2000`)
	if err != nil {
		return p, fmt.Errorf("employees: list: %w", err)
	}
	if p.Departments, err = s.Departments(ctx); err != nil {
		return p, err
	}
	err = s.db.GetContext(ctx, &p.LastSync, `SELECT max(synced_at) FROM wecom_employees
WHERE corp_id = (SELECT corp_id FROM wecom_settings)`)
	if err != nil {
		return p, fmt.Errorf("employees: last sync: %w", err)
	}
	return p, nil
}

// Departments lists the connected corp's departments.
func (s *StaffDirectory) Departments(ctx context.Context) ([]DeptRow, error) {
	var ds []DeptRow
	err := s.db.SelectContext(ctx, &ds, `SELECT id, name, parent_id FROM wecom_departments
WHERE corp_id = (SELECT corp_id FROM wecom_settings) AND deleted_at IS NULL ORDER BY sort_order DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("employees: departments: %w", err)
	}
	return ds, nil
}

// SetRole grants an employee of the connected corp a console role (audited
// by RoleService). Admins only; an admin cannot demote themselves, so the
// console is never left without the person fixing it.
// Errors: EFORBIDDEN, EINVALID, ENOTFOUND.
func (s *StaffDirectory) SetRole(ctx context.Context, v Operator, userID, role string, departments []int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	corp, err := s.CorpID(ctx)
	if err != nil {
		return err
	}
	if v.Kind == "wecom" && v.ID == userID && role != RoleAdmin {
		return Invalid("不能降低自己的角色", map[string]string{"role": "不能降低自己的角色"})
	}
	var n int
	if err := s.db.GetContext(ctx, &n, `SELECT count(*) FROM wecom_employees WHERE corp_id = $1 AND userid = $2 AND deleted_at IS NULL`,
		corp, userID); err != nil {
		return fmt.Errorf("employees: find: %w", err)
	}
	if n == 0 {
		return Errorf(ENOTFOUND, "员工不存在")
	}
	if role != RoleManager {
		departments = nil
	} else if len(departments) == 0 {
		return Invalid("请选择负责的部门", map[string]string{"departments": "主管至少负责一个部门"})
	}
	return s.roles.SetRole(ctx, StaffRole{CorpID: corp, UserID: userID, Role: role, DepartmentIDs: departments}, v.Kind, v.ID)
}

// ParseIDs parses "1,2, 3" into ids; bad entries are EINVALID.
func ParseIDs(field, s string) ([]int64, error) {
	var out []int64
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '，' }) {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return nil, Invalid("编号格式不正确", map[string]string{field: "请填写以逗号分隔的数字编号"})
		}
		out = append(out, id)
	}
	return out, nil
}
