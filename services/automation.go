package services

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Automation actions: what a rule does when its moment happens.
const (
	ActionTag    = "tag"    // add a corp tag on the customer's relation (mark_tag)
	ActionNotify = "notify" // app message to the employees following the customer
	ActionAssign = "assign" // assign the customer to the least-loaded employee of a set
	ActionGrowth = "growth" // add member growth points
)

// AutomationActions lists the actions in the order the console offers them.
var AutomationActions = []string{ActionTag, ActionNotify, ActionAssign, ActionGrowth}

// AutomationService keeps the automation rules and runs their executions.
//
// Moments reach it through the automation_enqueue trigger
// (migrations/00070_automation.sql), which queues one execution row per
// (rule, moment) in the moment's own transaction; AutomationWorker claims
// due rows and performs the action. The row's primary key makes a rule fire
// at most once per moment; DB actions commit with the row's final state, so
// they happen exactly once; WeCom calls are made idempotent (mark_tag) or
// guarded (message/send, see notify).
type AutomationService struct {
	db      *sqlx.DB
	audit   *AuditService
	members *MemberService
	wechat  WeChatSource
	baseURL string
	now     func() time.Time
	// MaxAttempts of a failing action before it is recorded failed; default 5.
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt (n ≥ 1).
	Backoff func(n int) time.Duration
}

// NewAutomationService returns the service; baseURL is the app's public URL
// (links in notifications).
func NewAutomationService(db *sqlx.DB, audit *AuditService, members *MemberService, wechat WeChatSource, baseURL string) *AutomationService {
	return &AutomationService{db: db, audit: audit, members: members, wechat: wechat,
		baseURL: strings.TrimRight(baseURL, "/"), now: time.Now, MaxAttempts: 5, Backoff: automationBackoff}
}

// automationBackoff waits 10 s, 20 s, 40 s … up to 10 minutes.
func automationBackoff(n int) time.Duration {
	return min(10*time.Second<<min(n-1, 10), 10*time.Minute)
}

// AutomationRule is a rule with its execution counts.
type AutomationRule struct {
	ID             int64          `db:"id"`
	Name           string         `db:"name"`
	Enabled        bool           `db:"enabled"`
	ActiveSince    time.Time      `db:"active_since"`
	MomentKind     MomentKind     `db:"moment_kind"`
	FormID         *int64         `db:"form_id"`
	Channel        string         `db:"channel"`
	Action         string         `db:"action"`
	TagID          string         `db:"tag_id"`
	TagName        string         `db:"tag_name"`
	Employees      pq.StringArray `db:"employees"`
	MaxPerEmployee int            `db:"max_per_employee"`
	Points         int            `db:"points"`
	CreatedBy      string         `db:"created_by"`
	CreatedAt      time.Time      `db:"created_at"`
	FormTitle      string         `db:"form_title"`
	// Fired counts executions done; Skipped those with nothing to do
	// (reason recorded), Failed those that gave up, Pending those queued.
	Fired   int `db:"fired"`
	Skipped int `db:"skipped"`
	Failed  int `db:"failed"`
	Pending int `db:"pending"`
}

// AutomationRuleInput is what an admin saves.
type AutomationRuleInput struct {
	Name           string
	MomentKind     MomentKind
	FormID         int64  // 0: any form
	Channel        string // "": any channel
	Action         string
	TagID          string
	Employees      []string
	MaxPerEmployee int
	Points         int
	Enabled        bool
}

// validate checks the input alone; references (form, tag, employees) are
// checked against the database by check.
func (in *AutomationRuleInput) validate() error {
	in.Name, in.Channel, in.TagID = strings.TrimSpace(in.Name), strings.TrimSpace(in.Channel), strings.TrimSpace(in.TagID)
	f := map[string]string{}
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > 60 {
		f["name"] = "请填写规则名称（不超过 60 字）"
	}
	if !in.MomentKind.Valid() || in.MomentKind == KindAutomationAction {
		f["kind"] = "请选择触发的动态类型"
	}
	if in.FormID != 0 && in.MomentKind != "form_submitted" && in.MomentKind != "form_viewed" {
		f["form"] = "只有「浏览表单」「提交表单」可以限定表单"
	}
	if in.Channel != "" && !channelCode.MatchString(in.Channel) {
		f["channel"] = "渠道代码只能包含字母、数字、下划线和连字符（不超过 30 个）"
	}
	in.validateAction(f)
	if len(f) > 0 {
		return Invalid("请检查规则", f)
	}
	return nil
}

func (in *AutomationRuleInput) validateAction(f map[string]string) {
	switch in.Action {
	case ActionTag:
		if in.TagID == "" {
			f["tag"] = "请选择要打的企业标签"
		}
	case ActionNotify:
	case ActionAssign:
		if len(in.Employees) == 0 || len(in.Employees) > 100 {
			f["employees"] = "请选择 1–100 名分配对象"
		}
		if in.MaxPerEmployee < 1 || in.MaxPerEmployee > 100000 {
			f["max"] = "每人上限应在 1–100000 之间"
		}
	case ActionGrowth:
		if in.Points < 1 || in.Points > 100000 {
			f["points"] = "成长值应在 1–100000 之间"
		}
	default:
		f["action"] = "请选择动作"
	}
}

// check validates the input and its references; it returns the tag's name.
func (s *AutomationService) check(ctx context.Context, in *AutomationRuleInput) (string, error) {
	if err := in.validate(); err != nil {
		return "", err
	}
	var ref struct {
		Form      bool   `db:"form"`
		Tag       string `db:"tag"`
		Employees int    `db:"employees"`
	}
	err := s.db.GetContext(ctx, &ref, `SELECT EXISTS (SELECT 1 FROM forms WHERE id = $1) AS form,
  coalesce((SELECT name FROM wecom_tags WHERE tag_id = $2 AND deleted_at IS NULL LIMIT 1), '') AS tag,
  (SELECT count(DISTINCT userid) FROM wecom_employees WHERE userid = ANY ($3) AND deleted_at IS NULL) AS employees`,
		in.FormID, in.TagID, pq.Array(in.Employees))
	if err != nil {
		return "", fmt.Errorf("automation: check: %w", err)
	}
	switch {
	case in.FormID != 0 && !ref.Form:
		return "", Invalid("请检查规则", map[string]string{"form": "表单不存在"})
	case in.Action == ActionTag && ref.Tag == "":
		return "", Invalid("请检查规则", map[string]string{"tag": "标签不存在，请先同步企业标签"})
	case in.Action == ActionAssign && ref.Employees != len(uniqStrings(in.Employees)):
		return "", Invalid("请检查规则", map[string]string{"employees": "所选员工不存在，请先同步通讯录"})
	}
	return ref.Tag, nil
}

func uniqStrings(xs []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// ruleColumns reads a rule with its counts (alias r, executions e).
const ruleColumns = `r.id, r.name, r.enabled, r.active_since, r.moment_kind, r.form_id, r.channel, r.action, r.tag_id,
  r.tag_name, r.employees, r.max_per_employee, r.points, r.created_by, r.created_at,
  coalesce((SELECT title FROM forms WHERE id = r.form_id), '') AS form_title,
  count(e.rule_id) FILTER (WHERE e.state = 'done') AS fired, count(e.rule_id) FILTER (WHERE e.state = 'skipped') AS skipped,
  count(e.rule_id) FILTER (WHERE e.state = 'failed') AS failed, count(e.rule_id) FILTER (WHERE e.state = 'pending') AS pending`

// Rules lists the rules, newest first. Admins and managers.
// Errors: EFORBIDDEN.
func (s *AutomationService) Rules(ctx context.Context, v Operator) ([]AutomationRule, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	var out []AutomationRule
	err := s.db.SelectContext(ctx, &out, `SELECT `+ruleColumns+`
FROM automation_rules r LEFT JOIN automation_executions e ON e.rule_id = r.id GROUP BY r.id ORDER BY r.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("automation: rules: %w", err)
	}
	return out, nil
}

// Rule returns one rule. Errors: EFORBIDDEN, ENOTFOUND.
func (s *AutomationService) Rule(ctx context.Context, v Operator, id int64) (AutomationRule, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return AutomationRule{}, err
	}
	var r AutomationRule
	err := s.db.GetContext(ctx, &r, `SELECT `+ruleColumns+`
FROM automation_rules r LEFT JOIN automation_executions e ON e.rule_id = r.id WHERE r.id = $1 GROUP BY r.id`, id)
	return r, wrapErr("automation: rule", notFound(err, "规则"))
}

// CreateRule saves a new rule; it acts on moments from now on, never on
// history. Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *AutomationService) CreateRule(ctx context.Context, v Operator, in AutomationRuleInput) (AutomationRule, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return AutomationRule{}, err
	}
	tag, err := s.check(ctx, &in)
	if err != nil {
		return AutomationRule{}, err
	}
	var id int64
	err = s.ruleTx(ctx, 0, in.Enabled, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &id, `INSERT INTO automation_rules (name, enabled, active_since, moment_kind, form_id, channel,
    action, tag_id, tag_name, employees, max_per_employee, points, created_by)
VALUES ($1, $2, $3, $4, nullif($5, 0), $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`, in.Name, in.Enabled, s.now(),
			in.MomentKind, in.FormID, in.Channel, in.Action, in.TagID, tag, pq.Array(uniqStrings(in.Employees)),
			max(in.MaxPerEmployee, 1), in.Points, v.Actor())
		if err != nil {
			return fmt.Errorf("automation: create: %w", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("automation_rule_created", "automation_rule", strconv.FormatInt(id, 10),
			map[string]any{"name": in.Name, "kind": in.MomentKind, "action": in.Action}))
	})
	if err != nil {
		return AutomationRule{}, err
	}
	return s.Rule(ctx, v, id)
}

// UpdateRule changes a rule; its executions so far keep their outcome.
// Admins only. Errors: EFORBIDDEN, EINVALID, ENOTFOUND.
func (s *AutomationService) UpdateRule(ctx context.Context, v Operator, id int64, in AutomationRuleInput) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	tag, err := s.check(ctx, &in)
	if err != nil {
		return err
	}
	return s.ruleTx(ctx, id, in.Enabled, func(tx *sqlx.Tx) error {
		// re-enabling starts a new "from now on": the moments in between are history
		res, err := tx.ExecContext(ctx, `UPDATE automation_rules SET name = $2, moment_kind = $3, form_id = nullif($4, 0),
    channel = $5, action = $6, tag_id = $7, tag_name = $8, employees = $9, max_per_employee = $10, points = $11,
    active_since = CASE WHEN $12 AND NOT enabled THEN $13 ELSE active_since END, enabled = $12, updated_at = $13
WHERE id = $1`, id, in.Name, in.MomentKind, in.FormID, in.Channel, in.Action, in.TagID, tag, pq.Array(uniqStrings(in.Employees)),
			max(in.MaxPerEmployee, 1), in.Points, in.Enabled, s.now())
		if err := affectedOne(res, err, "规则"); err != nil {
			return wrapErr("automation: update", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("automation_rule_updated", "automation_rule", strconv.FormatInt(id, 10),
			map[string]any{"name": in.Name, "kind": in.MomentKind, "action": in.Action, "enabled": in.Enabled}))
	})
}

// SetRuleEnabled turns a rule on (from now on) or off. Admins only.
// Errors: EFORBIDDEN, ENOTFOUND.
func (s *AutomationService) SetRuleEnabled(ctx context.Context, v Operator, id int64, on bool) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	return s.ruleTx(ctx, id, on, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE automation_rules SET
    active_since = CASE WHEN $2 AND NOT enabled THEN $3 ELSE active_since END, enabled = $2, updated_at = $3
WHERE id = $1`, id, on, s.now())
		if err := affectedOne(res, err, "规则"); err != nil {
			return wrapErr("automation: enable", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("automation_rule_enabled", "automation_rule", strconv.FormatInt(id, 10),
			map[string]any{"enabled": on}))
	})
}

// DeleteRule deletes a rule and its queued and past executions; moments and
// assignments it made stay. Admins only. Errors: EFORBIDDEN, ENOTFOUND.
func (s *AutomationService) DeleteRule(ctx context.Context, v Operator, id int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	return s.ruleTx(ctx, id, false, func(tx *sqlx.Tx) error {
		var name string
		if err := tx.GetContext(ctx, &name, `DELETE FROM automation_rules WHERE id = $1 RETURNING name`, id); err != nil {
			return wrapErr("automation: delete", notFound(err, "规则"))
		}
		return s.audit.recordTx(ctx, tx, v.audit("automation_rule_deleted", "automation_rule", strconv.FormatInt(id, 10),
			map[string]any{"name": name}))
	})
}

// affectedOne turns "no row updated" into ENOTFOUND.
func affectedOne(res interface{ RowsAffected() (int64, error) }, err error, what string) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "%s不存在", what)
	}
	return nil
}
