package services

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Operator is the person using the admin console, with what their role lets
// them see. The rule is the sidebar's (access.go): a marketing user is
// visible when one of its WeCom customers is followed by the operator
// (staff), by a member of one of their departments (managers), or always
// (admins); it is restated here over users instead of one external_userid,
// with the same definition of a manager's employees (managedEmployees).
// Local bootstrap accounts carry no corp and no departments: a
// local admin sees everything, a local manager no customers at all (a
// manager's scope is departments, and only WeCom employees belong to any).
type Operator struct {
	Kind          string // local or wecom
	ID            string // account id (local) or userid (wecom)
	CorpID        string
	Role          string // admin, manager, staff
	DepartmentIDs []int64
	IP            string
}

// Actor names the operator in logs and audit rows, e.g. "wecom:zhangsan".
func (v Operator) Actor() string { return v.Kind + ":" + v.ID }

// IsAdmin reports whether the operator sees and may do everything.
func (v Operator) IsAdmin() bool { return v.Role == RoleAdmin }

func (v Operator) audit(action, targetKind, targetID string, detail map[string]any) AuditEntry {
	return AuditEntry{ActorKind: v.Kind, ActorID: v.ID, Action: action, TargetKind: targetKind,
		TargetID: targetID, Detail: detail, IP: v.IP}
}

// requireRole returns EFORBIDDEN unless the operator has one of roles.
func (v Operator) requireRole(roles ...string) error {
	for _, r := range roles {
		if v.Role == r {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "你的角色无权执行此操作")
}

// scope is the data permission of an operator over marketing users: all, or
// the users linked to a customer followed by one of the employees.
type scope struct {
	all       bool
	employees []string
}

// args returns the two query arguments visibleSQL expects.
func (s scope) args() (bool, any) { return s.all, pq.Array(s.employees) }

// visibleSQL is the condition "marketing user u is visible", with $A the
// all flag and $B the employee userids: a user is visible when one of its
// WeCom external contact identities is followed (now) by one of them.
// Callers substitute the placeholders with fmt verbs %[1]s and %[2]s.
const visibleSQL = `(%[1]s OR EXISTS (
    SELECT 1 FROM identities vi
    JOIN wecom_follows vf ON vf.corp_id = vi.scope AND vf.external_userid = vi.key AND vf.deleted_at IS NULL
    WHERE vi.user_id = u.id AND vi.kind = 'wecom_external_userid' AND vf.userid = ANY (%[2]s)))`

// visible returns visibleSQL with its placeholders numbered a and a+1.
func visible(a int) string {
	return fmt.Sprintf(visibleSQL, fmt.Sprintf("$%d::boolean", a), fmt.Sprintf("$%d::text[]", a+1))
}

// scopeOf works out whose customers the operator sees: admins everyone,
// managers themselves and the employees of their departments and the
// departments below (as the sidebar), staff themselves.
func scopeOf(ctx context.Context, q sqlx.QueryerContext, v Operator) (scope, error) {
	switch {
	case v.Role == RoleAdmin:
		return scope{all: true}, nil
	case v.Role == RoleManager && len(v.DepartmentIDs) > 0:
		var ids []string
		err := sqlx.SelectContext(ctx, q, &ids, `SELECT m.userid FROM (SELECT $2::bigint[] AS depts) v
CROSS JOIN LATERAL (`+managedEmployees+`) m UNION SELECT $3`, v.CorpID, pq.Array(v.DepartmentIDs), v.ID)
		if err != nil {
			return scope{}, fmt.Errorf("console: scope: %w", err)
		}
		return scope{employees: ids}, nil
	case v.Kind == "wecom":
		return scope{employees: []string{v.ID}}, nil
	}
	return scope{employees: []string{}}, nil
}

// canSee returns ENOTFOUND unless the operator may see the (live) user: a
// user outside the scope does not exist for them.
func canSee(ctx context.Context, q sqlx.QueryerContext, v Operator, userID int64) error {
	sc, err := scopeOf(ctx, q, v)
	if err != nil {
		return err
	}
	all, emps := sc.args()
	var ok bool
	err = sqlx.GetContext(ctx, q, &ok, `SELECT EXISTS (SELECT 1 FROM marketing_users u
WHERE u.id = identity_resolve($1) AND `+visible(2)+`)`, userID, all, emps)
	if err != nil {
		return fmt.Errorf("console: can see: %w", err)
	}
	if !ok {
		return Errorf(ENOTFOUND, "营销用户不存在")
	}
	return nil
}
