package services

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// maxReceivers is WeCom's limit of userids per message/send.
const maxReceivers = 1000

// PublishTask fixes the task's receivers and sends them the app message.
// Receivers are the active employees inside the app's visible range among
// the targets (departments include their sub-departments). A failed send
// leaves the task "failed" with the reason, to be published again.
// Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (already published), EINVALID
// (no receiver), EUNAVAILABLE (WeCom not connected or refusing).
func (s *TaskService) PublishTask(ctx context.Context, v Operator, id int64) (Task, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Task{}, err
	}
	var t Task
	var users []string
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if t, users, err = s.claim(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE promotion_tasks SET status = 'publishing', last_error = '', updated_at = $2 WHERE id = $1`, id, s.now())
		return err
	})
	if err != nil {
		return Task{}, wrapErr("tasks: publish", err)
	}
	res, sendErr := s.send(ctx, t, users)
	if sendErr != nil {
		return Task{}, s.failed(ctx, id, sendErr)
	}
	if err := s.published(ctx, v, t, users, res); err != nil {
		return Task{}, err
	}
	return s.findTask(ctx, id)
}

// claim locks a draft (or failed) task and records its receivers.
func (s *TaskService) claim(ctx context.Context, tx *sqlx.Tx, id int64) (Task, []string, error) {
	var t Task
	err := tx.GetContext(ctx, &t, `SELECT id, corp_id, title, form_id, material_title, material_url, message, deadline,
    target_kind, target_ids, status FROM promotion_tasks WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return t, nil, notFound(err, "推广任务")
	}
	if t.Status != "draft" && t.Status != "failed" {
		return t, nil, Errorf(ECONFLICT, "任务已发布")
	}
	if !t.Deadline.After(s.now()) {
		return t, nil, Invalid("任务已过截止时间", map[string]string{"deadline": "任务已过截止时间"})
	}
	segUsers, err := s.segmentUsers(ctx, t)
	if err != nil {
		return t, nil, err
	}
	var users []string
	err = tx.SelectContext(ctx, &users, `WITH RECURSIVE d AS (
    SELECT id FROM wecom_departments WHERE corp_id = $1 AND $2 = 'departments' AND id::text = ANY ($3)
    UNION SELECT c.id FROM wecom_departments c JOIN d ON c.parent_id = d.id WHERE c.corp_id = $1)
SELECT userid FROM wecom_employees e
WHERE e.corp_id = $1 AND e.deleted_at IS NULL AND e.status = 1 AND e.in_visible_range
  AND ($2 = 'everyone' OR ($2 = 'employees' AND e.userid = ANY ($3))
       OR ($2 = 'departments' AND e.departments && ARRAY(SELECT id FROM d))
       OR ($2 = 'segment' AND e.userid IN (`+segmentFollowers+`)))
ORDER BY userid`, t.CorpID, t.TargetKind, pq.Array(t.TargetIDs), pq.Array(segUsers))
	if err != nil {
		return t, nil, fmt.Errorf("tasks: receivers: %w", err)
	}
	if len(users) == 0 {
		return t, nil, Invalid("没有可推送的员工", map[string]string{"targets": "所选对象中没有在应用可见范围内的在职员工（请先同步通讯录）"})
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO promotion_task_targets (task_id, userid)
SELECT $1, u FROM unnest($2::text[]) u ON CONFLICT DO NOTHING`, id, pq.Array(users))
	return t, users, err
}

// send sends the task card in batches of WeCom's receiver limit.
func (s *TaskService) send(ctx context.Context, t Task, users []string) (wecom.SendResult, error) {
	client, err := s.wechat.WeChat(ctx)
	if err != nil {
		return wecom.SendResult{}, err
	}
	card := &wecom.TextCard{Title: "推广任务：" + t.Title, URL: t.MaterialURL, ButtonText: "去推广",
		Description: fmt.Sprintf("<div class=\"gray\">截止 %s</div><div class=\"normal\">%s</div><div class=\"highlight\">素材：%s。在客户聊天的侧边栏「任务」中一键发送。</div>",
			t.Deadline.In(chinaTime).Format("01-02 15:04"), t.Message, t.MaterialTitle)}
	var all wecom.SendResult
	for start := 0; start < len(users); start += maxReceivers {
		res, err := client.SendAppMessage(ctx, wecom.AppMessage{ToUsers: users[start:min(start+maxReceivers, len(users))], TextCard: card})
		if err != nil && !wecom.IsAPIError(err, 81013) { // 81013: every receiver of this batch was invalid
			return all, err
		}
		all.MsgID = appendMsgID(all.MsgID, res.MsgID)
		// members without an interface licence are not reached either
		all.InvalidUsers = append(all.InvalidUsers, res.InvalidUsers...)
		all.InvalidUsers = append(all.InvalidUsers, res.UnlicensedUsers...)
	}
	return all, nil
}

func appendMsgID(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "," + b
}

// failed records why sending failed and answers EUNAVAILABLE with it.
func (s *TaskService) failed(ctx context.Context, id int64, sendErr error) error {
	msg := ErrorMessage(sendErr)
	var api *wecom.APIError
	if errors.As(sendErr, &api) {
		msg = fmt.Sprintf("企业微信返回错误 %d", api.Code)
		if a := api.Advice(); a != "" {
			msg += "：" + a
		}
	}
	_, err := s.db.ExecContext(ctx, `UPDATE promotion_tasks SET status = 'failed', last_error = $2, updated_at = $3 WHERE id = $1`,
		id, msg, s.now())
	if err != nil {
		return fmt.Errorf("tasks: mark failed: %w", err)
	}
	if ErrorCode(sendErr) == EINTERNAL && api == nil {
		return fmt.Errorf("tasks: send: %w", sendErr)
	}
	return Errorf(EUNAVAILABLE, "推送失败：%s", msg)
}

func (s *TaskService) published(ctx context.Context, v Operator, t Task, users []string, res wecom.SendResult) error {
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE promotion_task_targets SET delivered = false WHERE task_id = $1 AND userid = ANY ($2)`,
			t.ID, pq.Array(res.InvalidUsers))
		if err != nil {
			return fmt.Errorf("tasks: undelivered: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE promotion_tasks SET status = 'published', published_at = $2, updated_at = $2,
    msg_ids = $3 WHERE id = $1`, t.ID, s.now(), pq.Array([]string{res.MsgID}))
		if err != nil {
			return fmt.Errorf("tasks: published: %w", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("task_published", "promotion_task", strconv.FormatInt(t.ID, 10),
			map[string]any{"receivers": len(users), "undelivered": len(res.InvalidUsers)}))
	})
}

// EmployeeFigures are one employee's results on a task.
type EmployeeFigures struct {
	UserID     string `db:"userid"`
	Name       string `db:"name"`
	Delivered  bool   `db:"delivered"`
	Sent       int    `db:"sent"`
	Opened     int    `db:"opened"`
	Registered int    `db:"registered"`
}

// TaskReport is a task with its per-employee figures, best first.
type TaskReport struct {
	Task
	Employees                []EmployeeFigures
	Sent, Opened, Registered int
}

// TaskReport returns the task and the leaderboard: per receiver, the
// material's sends (sidebar), opens and registrations attributed to them
// between publishing and the deadline. Admins and managers.
// Errors: EFORBIDDEN, ENOTFOUND.
func (s *TaskService) TaskReport(ctx context.Context, v Operator, id int64) (TaskReport, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return TaskReport{}, err
	}
	t, err := s.findTask(ctx, id)
	if err != nil {
		return TaskReport{}, err
	}
	r := TaskReport{Task: t}
	from := time.Unix(0, 0)
	if t.PublishedAt != nil {
		from = *t.PublishedAt
	}
	err = s.db.SelectContext(ctx, &r.Employees, `SELECT x.userid, coalesce(nullif(e.name, ''), x.userid) AS name, x.delivered,
    count(m.id) FILTER (WHERE m.kind = 'material_sent') AS sent,
    count(m.id) FILTER (WHERE m.kind = 'form_viewed') AS opened,
    count(m.id) FILTER (WHERE m.kind = 'form_submitted') AS registered
FROM promotion_task_targets x
LEFT JOIN wecom_employees e ON e.corp_id = $2 AND e.userid = x.userid
LEFT JOIN moments m ON m.kind IN ('material_sent', 'form_viewed', 'form_submitted')
    AND m.detail ->> 'form_id' = $3 AND m.employee_userid = x.userid AND m.occurred_at >= $4 AND m.occurred_at < $5
WHERE x.task_id = $1
GROUP BY x.userid, e.name, x.delivered
ORDER BY registered DESC, opened DESC, sent DESC, x.userid`, id, t.CorpID, t.FormID, from, t.Deadline)
	if err != nil {
		return r, fmt.Errorf("tasks: figures: %w", err)
	}
	for _, e := range r.Employees {
		r.Sent, r.Opened, r.Registered = r.Sent+e.Sent, r.Opened+e.Opened, r.Registered+e.Registered
	}
	return r, nil
}
