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

	"github.com/marketing-assistant/assistant/services/wecom"
)

// Target kinds of a promotion task.
const (
	TargetEveryone    = "everyone"
	TargetEmployees   = "employees"
	TargetDepartments = "departments"
	// TargetSegment: the employees following the customers of a segment
	// (TargetIDs holds the segment id; segments_tasks.go).
	TargetSegment = "segment"
)

// MaterialSource gives the materials a task can promote: published forms.
type MaterialSource interface {
	PublishedForms(ctx context.Context) ([]Form, error)
}

// WeChatSource gives the WeCom client of the saved settings (the
// integrations' WeChatProvider).
type WeChatSource interface {
	WeChat(ctx context.Context) (*wecom.Client, error)
}

// TaskService runs promotion tasks: an admin picks a material, writes a
// message and a deadline, chooses employees; publishing sends them a WeCom
// app message; the figures come from the moments the material produces.
type TaskService struct {
	db      *sqlx.DB
	audit   *AuditService
	forms   MaterialSource
	wechat  WeChatSource
	baseURL string
	now     func() time.Time
	// segments resolves TargetSegment (set by WithSegments)
	segments *SegmentService
}

// NewTaskService returns the service; baseURL is the app's public URL.
func NewTaskService(db *sqlx.DB, audit *AuditService, forms MaterialSource, wechat WeChatSource, baseURL string) *TaskService {
	return &TaskService{db: db, audit: audit, forms: forms, wechat: wechat, baseURL: strings.TrimRight(baseURL, "/"), now: time.Now}
}

// Task is a promotion task.
type Task struct {
	ID            int64          `db:"id"`
	CorpID        string         `db:"corp_id"`
	Title         string         `db:"title"`
	FormID        string         `db:"form_id"`
	MaterialTitle string         `db:"material_title"`
	MaterialURL   string         `db:"material_url"`
	Message       string         `db:"message"`
	Deadline      time.Time      `db:"deadline"`
	TargetKind    string         `db:"target_kind"`
	TargetIDs     pq.StringArray `db:"target_ids"`
	Status        string         `db:"status"`
	LastError     string         `db:"last_error"`
	CreatedBy     string         `db:"created_by"`
	CreatedAt     time.Time      `db:"created_at"`
	PublishedAt   *time.Time     `db:"published_at"`
	Targets       int            `db:"targets"`
}

// TaskInput is what an admin saves.
type TaskInput struct {
	Title      string
	FormID     int64
	Message    string
	Deadline   time.Time
	TargetKind string
	TargetIDs  []string // userids or department ids
}

func (in *TaskInput) validate(now time.Time) error {
	in.Title, in.Message = strings.TrimSpace(in.Title), strings.TrimSpace(in.Message)
	bad := map[string]string{}
	if n := utf8.RuneCountInString(in.Title); n == 0 || n > 60 {
		bad["title"] = "请填写标题（不超过 60 字）"
	}
	if utf8.RuneCountInString(in.Message) > 500 {
		bad["message"] = "推广语不超过 500 字"
	}
	if in.FormID <= 0 {
		bad["form"] = "请选择推广素材"
	}
	if !in.Deadline.After(now) {
		bad["deadline"] = "截止时间需晚于现在"
	}
	switch in.TargetKind {
	case TargetEveryone:
		in.TargetIDs = nil
	case TargetEmployees, TargetDepartments:
		if len(in.TargetIDs) == 0 {
			bad["targets"] = "请选择员工或部门"
		}
	case TargetSegment:
		if len(in.TargetIDs) != 1 || in.TargetIDs[0] == "" {
			bad["targets"] = "请选择人群"
		}
	default:
		bad["targets"] = "请选择推送对象"
	}
	if len(bad) > 0 {
		return Invalid("请检查输入", bad)
	}
	return nil
}

const taskColumns = `t.id, t.corp_id, t.title, t.form_id, t.material_title, t.material_url, t.message, t.deadline,
    t.target_kind, t.target_ids, t.status, t.last_error, t.created_by, t.created_at, t.published_at,
    (SELECT count(*) FROM promotion_task_targets x WHERE x.task_id = t.id) AS targets`

// CreateTask saves a draft task. Admins only.
// Errors: EFORBIDDEN, EINVALID (input, or the form is not published).
func (s *TaskService) CreateTask(ctx context.Context, v Operator, in TaskInput) (Task, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Task{}, err
	}
	if err := in.validate(s.now()); err != nil {
		return Task{}, err
	}
	form, err := s.publishedForm(ctx, in.FormID)
	if err != nil {
		return Task{}, err
	}
	var id int64
	err = s.db.GetContext(ctx, &id, `INSERT INTO promotion_tasks (corp_id, title, form_id, material_title, material_url,
    message, deadline, target_kind, target_ids, created_by)
VALUES ((SELECT corp_id FROM wecom_settings), $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		in.Title, strconv.FormatInt(form.ID, 10), form.Title, s.baseURL+"/f/"+form.Slug, in.Message, in.Deadline,
		in.TargetKind, pq.StringArray(append([]string{}, in.TargetIDs...)), v.Actor())
	if err != nil {
		return Task{}, fmt.Errorf("tasks: create: %w", err)
	}
	_ = s.audit.Record(ctx, v.audit("task_created", "promotion_task", strconv.FormatInt(id, 10), map[string]any{"form_id": form.ID}))
	return s.findTask(ctx, id)
}

func (s *TaskService) publishedForm(ctx context.Context, id int64) (Form, error) {
	forms, err := s.forms.PublishedForms(ctx)
	if err != nil {
		return Form{}, err
	}
	for _, f := range forms {
		if f.ID == id {
			return f, nil
		}
	}
	return Form{}, Invalid("请检查输入", map[string]string{"form": "素材不存在或未发布"})
}

// Materials lists the published forms a task can promote. Admins only.
func (s *TaskService) Materials(ctx context.Context, v Operator) ([]Form, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return nil, err
	}
	return s.forms.PublishedForms(ctx)
}

func (s *TaskService) findTask(ctx context.Context, id int64) (Task, error) {
	var t Task
	if err := s.db.GetContext(ctx, &t, `SELECT `+taskColumns+` FROM promotion_tasks t WHERE t.id = $1`, id); err != nil {
		return Task{}, notFound(err, "推广任务")
	}
	return t, nil
}

// Tasks lists tasks, newest first. Admins and managers.
func (s *TaskService) Tasks(ctx context.Context, v Operator) ([]Task, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	var ts []Task
	if err := s.db.SelectContext(ctx, &ts, `SELECT `+taskColumns+` FROM promotion_tasks t ORDER BY t.id DESC LIMIT 200`); err != nil {
		return nil, fmt.Errorf("tasks: list: %w", err)
	}
	return ts, nil
}

// OpenTask is a task an employee still has to promote (the sidebar's
// Tasks tab).
type OpenTask struct {
	ID            int64     `db:"id"`
	Title         string    `db:"title"`
	Message       string    `db:"message"`
	Deadline      time.Time `db:"deadline"`
	FormID        string    `db:"form_id"`
	MaterialTitle string    `db:"material_title"`
	MaterialURL   string    `db:"material_url"`
}

// OpenTasksFor lists the published, unexpired tasks sent to the employee,
// soonest deadline first. The sidebar sends the material with its own
// attributed link, so the employee's sends, opens and registrations count.
func (s *TaskService) OpenTasksFor(ctx context.Context, corpID, userID string) ([]OpenTask, error) {
	var out []OpenTask
	err := s.db.SelectContext(ctx, &out, `SELECT t.id, t.title, t.message, t.deadline, t.form_id, t.material_title, t.material_url
FROM promotion_task_targets x JOIN promotion_tasks t ON t.id = x.task_id
WHERE x.userid = $2 AND t.corp_id = $1 AND t.status = 'published' AND t.deadline > $3
ORDER BY t.deadline, t.id LIMIT 50`, corpID, userID, s.now())
	if err != nil {
		return nil, fmt.Errorf("tasks: open for: %w", err)
	}
	return out, nil
}
