package services

import (
	"context"
	"fmt"
)

// Forms in the admin console. Form definitions, publishing (a field of the
// definition) and the redirect-host allow-list are admin-only; a manager
// may list the forms and read and export the submissions of the marketing
// users inside their data scope (console_access.go), the console's users
// list rule. Staff may do neither. Demo seeding and tests create forms
// through CreateForm, which has no operator.

// CreateFormBy creates a form for an admin. Errors: EFORBIDDEN, EINVALID.
func (s *FormService) CreateFormBy(ctx context.Context, v Operator, in FormInput) (Form, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Form{}, err
	}
	return s.CreateForm(ctx, in, v.Kind, v.ID)
}

// UpdateFormBy saves an admin's edit of a form (publishing included).
// Errors: EFORBIDDEN, ENOTFOUND, EINVALID.
func (s *FormService) UpdateFormBy(ctx context.Context, v Operator, id int64, in FormInput) (Form, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Form{}, err
	}
	return s.UpdateForm(ctx, id, in, v.Kind, v.ID)
}

// SetRedirectHostsBy replaces the allowed after-submit hosts for an admin.
// Errors: EFORBIDDEN, EINVALID.
func (s *FormService) SetRedirectHostsBy(ctx context.Context, v Operator, hosts []string) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	return s.SetRedirectHosts(ctx, hosts, v.Kind, v.ID)
}

// submissionVisible is the condition "submission fs is visible", with its
// placeholders numbered a (all) and a+1 (employees), as visible: the
// submission's marketing user (followed through merges) is in the scope.
// Admins short-circuit on the flag, so their lists pay nothing for it.
func submissionVisible(a int) string {
	return fmt.Sprintf(`($%d::boolean OR EXISTS (SELECT 1 FROM marketing_users u
    WHERE u.id = identity_resolve(fs.user_id) AND %s))`, a, visible(a))
}
