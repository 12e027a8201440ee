package services

import (
	"context"
	"fmt"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// StaffSignedIn records an employee who signed in to the sidebar in the
// mirror (name and departments, for managers' scope and for naming the
// employee on moments), marking them inside the app's visible range.
func (s *SidebarService) StaffSignedIn(ctx context.Context, corpID string, u wecom.User) error {
	depts := make([]int64, len(u.Departments))
	for i, d := range u.Departments {
		depts[i] = int64(d)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO wecom_employees
    (corp_id, userid, name, departments, main_department, position, status, in_visible_range, last_sidebar_at)
VALUES ($1, $2, $3, $4::bigint[]::integer[], $5, $6, $7, true, now())
ON CONFLICT (corp_id, userid) DO UPDATE SET name = $3, departments = $4::bigint[]::integer[], main_department = $5,
    position = $6, status = $7, in_visible_range = true, last_sidebar_at = now(), deleted_at = NULL, updated_at = now()`,
		corpID, u.UserID, u.Name, pq.Array(depts), u.MainDepartment, u.Position, max(u.Status, 1))
	if err != nil {
		return fmt.Errorf("sidebar: staff: %w", err)
	}
	return nil
}
