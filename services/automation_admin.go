package services

import (
	"context"
	"fmt"
	"time"
)

// AutomationChoices are what a rule can refer to: forms, corp tags (from
// the mirror) and active employees.
type AutomationChoices struct {
	Forms     []AutomationForm
	Tags      []TagChoice
	Employees []AutomationEmployee
}

// AutomationForm is a form a rule can be limited to.
type AutomationForm struct {
	ID    int64  `db:"id"`
	Title string `db:"title"`
}

// AutomationEmployee is an employee a rule can assign to.
type AutomationEmployee struct {
	UserID string `db:"userid"`
	Name   string `db:"name"`
}

// Choices lists the forms, tags and employees for the rule editor. Admins
// only. Errors: EFORBIDDEN.
func (s *AutomationService) Choices(ctx context.Context, v Operator) (AutomationChoices, error) {
	var c AutomationChoices
	if err := v.requireRole(RoleAdmin); err != nil {
		return c, err
	}
	if err := s.db.SelectContext(ctx, &c.Forms, `SELECT id, title FROM forms ORDER BY id DESC LIMIT 500`); err != nil {
		return c, fmt.Errorf("automation: forms: %w", err)
	}
	err := s.db.SelectContext(ctx, &c.Tags, `SELECT t.tag_id, t.name, coalesce(g.name, '') AS group_name
FROM wecom_tags t LEFT JOIN wecom_tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id
WHERE t.deleted_at IS NULL ORDER BY g.sort_order DESC NULLS LAST, t.sort_order DESC, t.tag_id LIMIT 1000`)
	if err != nil {
		return c, fmt.Errorf("automation: tags: %w", err)
	}
	err = s.db.SelectContext(ctx, &c.Employees, `SELECT userid, coalesce(nullif(name, ''), userid) AS name FROM wecom_employees
WHERE deleted_at IS NULL AND status = 1 ORDER BY userid LIMIT 2000`)
	if err != nil {
		return c, fmt.Errorf("automation: employees: %w", err)
	}
	return c, nil
}

// AutomationExecution is one (rule, moment) execution, for the rule page.
type AutomationExecution struct {
	MomentID    int64      `db:"moment_id"`
	UserID      int64      `db:"user_id"`
	MomentTitle string     `db:"moment_title"`
	State       string     `db:"state"`
	Attempts    int        `db:"attempts"`
	Outcome     string     `db:"outcome"`
	Errcode     int        `db:"errcode"`
	CreatedAt   time.Time  `db:"created_at"`
	FinishedAt  *time.Time `db:"finished_at"`
}

// Executions lists a rule's latest executions, failures first. Admins and
// managers. Errors: EFORBIDDEN.
func (s *AutomationService) Executions(ctx context.Context, v Operator, ruleID int64, limit int) ([]AutomationExecution, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	var out []AutomationExecution
	err := s.db.SelectContext(ctx, &out, `SELECT x.moment_id, coalesce(identity_resolve(i.user_id), 0) AS user_id,
    coalesce(m.title, '') AS moment_title, x.state, x.attempts, x.outcome, x.errcode, x.created_at, x.finished_at
FROM automation_executions x
LEFT JOIN moments m ON m.id = x.moment_id LEFT JOIN identities i ON i.id = m.identity_id
WHERE x.rule_id = $1 ORDER BY (x.state = 'failed') DESC, x.created_at DESC, x.moment_id DESC LIMIT $2`, ruleID, limit)
	if err != nil {
		return nil, fmt.Errorf("automation: executions: %w", err)
	}
	return out, nil
}
