package services

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// TemplateClient is what template messages need of the OA client.
type TemplateClient interface {
	OATemplates(ctx context.Context) ([]wecom.OATemplate, error)
	OASendTemplateOnce(ctx context.Context, m wecom.TemplateMessage, clientMsgID string) (int64, error)
}

// SegmentSource gives the audiences: saved segments and their users.
type SegmentSource interface {
	List(ctx context.Context) ([]Segment, error)
	Get(ctx context.Context, id int64) (Segment, error)
	UserIDs(ctx context.Context, id int64) ([]int64, error)
}

// OATemplateRow is a synced template with its fields.
type OATemplateRow struct {
	TemplateID string         `db:"template_id"`
	AppID      string         `db:"app_id"`
	Title      string         `db:"title"`
	Content    string         `db:"content"`
	Example    string         `db:"example"`
	Fields     pq.StringArray `db:"fields"`
	SyncedAt   time.Time      `db:"synced_at"`
}

// Field value kinds of a send: fixed text, or a variable filled per fan.
const (
	TplFieldText = "text"
	TplFieldVar  = "var"
)

// TemplateVars are the variables a field can take, with their labels.
var TemplateVars = map[string]string{"nickname": "粉丝昵称", "date": "发送日期", "form_title": "表单名称"}

// TemplateField is what one template field is filled with.
type TemplateField struct {
	Kind  string `json:"kind"`
	Value string `json:"value"` // the text, or the variable name
}

// TemplateFields maps field names to values; stored as JSON.
type TemplateFields map[string]TemplateField

// Scan reads the JSON column.
func (f *TemplateFields) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return fmt.Errorf("template fields: not jsonb")
	}
	return json.Unmarshal(b, f)
}

// TemplateSendInput is a send as an admin composes it.
type TemplateSendInput struct {
	TemplateID string
	SegmentID  int64
	Fields     TemplateFields
	FormSlug   string // the message's link, attributed; "" for none
}

// TemplateSend is a send: a draft, sending, or done.
type TemplateSend struct {
	ID          int64          `db:"id"`
	AppID       string         `db:"app_id"`
	TemplateID  string         `db:"template_id"`
	Title       string         `db:"title"`
	Content     string         `db:"content"`
	TplFields   pq.StringArray `db:"tpl_fields"`
	SegmentID   int64          `db:"segment_id"`
	SegmentName string         `db:"segment_name"`
	Fields      TemplateFields `db:"fields"`
	FormSlug    string         `db:"form_slug"`
	FormTitle   string         `db:"form_title"`
	Status      string         `db:"status"`
	Recipients  int            `db:"recipients"`
	CreatedBy   string         `db:"created_by"`
	CreatedAt   time.Time      `db:"created_at"`
	StartedAt   *time.Time     `db:"started_at"`
	FinishedAt  *time.Time     `db:"finished_at"`
}

// TemplateMessageService syncs templates, composes sends and runs them.
type TemplateMessageService struct {
	db       *sqlx.DB
	audit    *AuditService
	segments SegmentSource
	attr     *Attributor
	baseURL  string
	client   func(ctx context.Context) (TemplateClient, error)
	// Workers send concurrently (WeChat allows far more; 8 keeps a 1,000-fan
	// send to seconds without bursting the account's rate).
	Workers int
	// Lease is how long a runner holds a send between renewals; a crashed
	// runner's send is resumed by any instance after it.
	Lease time.Duration
	// Poll is how often RunPending looks for sends to resume.
	Poll  time.Duration
	owner string
	wake  chan struct{}
}

// NewTemplateMessageService returns the service; client gives the OA client
// of the saved settings.
func NewTemplateMessageService(db *sqlx.DB, audit *AuditService, segments SegmentSource, attr *Attributor, baseURL string,
	client func(ctx context.Context) (TemplateClient, error)) *TemplateMessageService {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &TemplateMessageService{db: db, audit: audit, segments: segments, attr: attr, baseURL: strings.TrimRight(baseURL, "/"),
		client: client, Workers: 8, Lease: time.Minute, Poll: 15 * time.Second, owner: hex.EncodeToString(b),
		wake: make(chan struct{}, 1)}
}

var placeholder = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)\.DATA\}\}`)

// TemplateFieldNames returns the {{name.DATA}} placeholders of content, in
// order, each once.
func TemplateFieldNames(content string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(content, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// SyncTemplates replaces the stored templates with the account's, audited.
// Admins only. Errors: EFORBIDDEN, EUNAVAILABLE.
func (s *TemplateMessageService) SyncTemplates(ctx context.Context, appID string, by Actor) (int, error) {
	if err := by.requireAdmin(); err != nil {
		return 0, err
	}
	c, err := s.client(ctx)
	if err != nil {
		return 0, err
	}
	tpls, err := c.OATemplates(ctx)
	if err != nil {
		return 0, templateError(err)
	}
	err = withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		ids := make([]string, 0, len(tpls))
		for _, t := range tpls {
			ids = append(ids, t.TemplateID)
			if _, err := tx.ExecContext(ctx, `INSERT INTO oa_templates (template_id, app_id, title, content, example, fields)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (template_id) DO UPDATE SET app_id = $2, title = $3, content = $4, example = $5,
    fields = $6, synced_at = now(), deleted_at = NULL`, t.TemplateID, appID, t.Title, t.Content, t.Example,
				pq.Array(nonNilStrings(TemplateFieldNames(t.Content)))); err != nil {
				return fmt.Errorf("templates: save: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oa_templates SET deleted_at = now() WHERE deleted_at IS NULL
AND NOT (template_id = ANY($1))`, pq.Array(ids)); err != nil {
			return fmt.Errorf("templates: retire: %w", err)
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: "oa_templates_synced",
			TargetKind: "oa_template", Detail: map[string]any{"count": len(tpls)}})
	})
	return len(tpls), err
}

// templateError turns WeChat's refusals into messages for the admin.
func templateError(err error) error {
	switch {
	case wecom.IsAPIError(err, 48001):
		return Errorf(EUNAVAILABLE, "公众号未开通模板消息")
	case wecom.IsAPIError(err):
		return Errorf(EUNAVAILABLE, "微信拒绝了请求，请稍后再试")
	}
	return err
}

// Templates lists the synced templates.
func (s *TemplateMessageService) Templates(ctx context.Context) ([]OATemplateRow, error) {
	var out []OATemplateRow
	err := s.db.SelectContext(ctx, &out, `SELECT template_id, app_id, title, content, example, fields, synced_at
FROM oa_templates WHERE deleted_at IS NULL ORDER BY title, template_id`)
	if err != nil {
		return nil, fmt.Errorf("templates: list: %w", err)
	}
	return out, nil
}

// Segments lists the audiences a send can pick.
func (s *TemplateMessageService) Segments(ctx context.Context) ([]Segment, error) {
	return s.segments.List(ctx)
}

// PublishedForms lists the forms a send can link.
func (s *TemplateMessageService) PublishedForms(ctx context.Context) ([]FormChoice, error) {
	var out []FormChoice
	if err := s.db.SelectContext(ctx, &out, `SELECT slug, title FROM forms WHERE published ORDER BY updated_at DESC LIMIT 200`); err != nil {
		return nil, fmt.Errorf("templates: forms: %w", err)
	}
	return out, nil
}

// validate checks the input against the template. Errors: EINVALID.
func (in *TemplateSendInput) validate(tpl OATemplateRow) error {
	bad := map[string]string{}
	for _, name := range tpl.Fields {
		f := in.Fields[name]
		f.Value = strings.TrimSpace(f.Value)
		switch {
		case f.Kind == TplFieldVar && TemplateVars[f.Value] == "":
			bad["field_"+name] = "请选择变量"
		case f.Kind == TplFieldText && (f.Value == "" || utf8.RuneCountInString(f.Value) > 200):
			bad["field_"+name] = "请填写 1–200 个字"
		case f.Kind != TplFieldText && f.Kind != TplFieldVar:
			bad["field_"+name] = "请填写此字段"
		}
		in.Fields[name] = f
	}
	for name := range in.Fields {
		if !hasField(tpl.Fields, name) {
			delete(in.Fields, name)
		}
	}
	if in.SegmentID <= 0 {
		bad["segment"] = "请选择人群"
	}
	if len(bad) > 0 {
		return Invalid("请检查标红的字段", bad)
	}
	return nil
}

func hasField(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// template returns a live synced template. Errors: EINVALID.
func (s *TemplateMessageService) template(ctx context.Context, id string) (OATemplateRow, error) {
	var t OATemplateRow
	err := s.db.GetContext(ctx, &t, `SELECT template_id, app_id, title, content, example, fields, synced_at
FROM oa_templates WHERE template_id = $1 AND deleted_at IS NULL`, id)
	if ErrorCode(notFound(err, "")) == ENOTFOUND {
		return t, Invalid("请选择模板", map[string]string{"template": "请选择模板（先同步模板库）"})
	}
	if err != nil {
		return t, fmt.Errorf("templates: template: %w", err)
	}
	return t, nil
}

// CreateSend saves a draft send, audited. Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *TemplateMessageService) CreateSend(ctx context.Context, appID string, in TemplateSendInput, by Actor) (TemplateSend, error) {
	if err := by.requireAdmin(); err != nil {
		return TemplateSend{}, err
	}
	if in.Fields == nil {
		in.Fields = TemplateFields{}
	}
	tpl, err := s.template(ctx, in.TemplateID)
	if err != nil {
		return TemplateSend{}, err
	}
	if err := in.validate(tpl); err != nil {
		return TemplateSend{}, err
	}
	seg, err := s.segments.Get(ctx, in.SegmentID)
	if err != nil {
		return TemplateSend{}, Invalid("人群不存在", map[string]string{"segment": "人群不存在"})
	}
	if appID == "" {
		return TemplateSend{}, Errorf(EUNAVAILABLE, "尚未配置公众号，请管理员在设置页完成配置")
	}
	if in.FormSlug != "" {
		if _, err := publishedFormTitle(ctx, s.db, in.FormSlug); err != nil {
			return TemplateSend{}, err
		}
	}
	fields, _ := json.Marshal(in.Fields)
	var id int64
	err = withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &id, `INSERT INTO template_sends (app_id, template_id, segment_id, segment_name, fields, form_slug, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, appID, in.TemplateID, seg.ID, seg.Name, fields, in.FormSlug, by.Kind+":"+by.ID); err != nil {
			return fmt.Errorf("templates: create send: %w", err)
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: "template_send_created",
			TargetKind: "template_send", TargetID: fmt.Sprint(id), Detail: map[string]any{"template_id": in.TemplateID, "segment_id": seg.ID}})
	})
	if err != nil {
		return TemplateSend{}, err
	}
	return s.Send(ctx, id)
}

const templateSendColumns = `s.id, s.app_id, s.template_id, t.title, t.content, t.fields AS tpl_fields, s.segment_id, s.segment_name,
s.fields, s.form_slug, coalesce(f.title, '') AS form_title, s.status, s.recipients, s.created_by, s.created_at, s.started_at, s.finished_at`

const templateSendFrom = ` FROM template_sends s JOIN oa_templates t ON t.template_id = s.template_id
LEFT JOIN forms f ON f.slug = s.form_slug AND s.form_slug <> ''`

// Send returns one send. Errors: ENOTFOUND.
func (s *TemplateMessageService) Send(ctx context.Context, id int64) (TemplateSend, error) {
	var out TemplateSend
	if err := s.db.GetContext(ctx, &out, `SELECT `+templateSendColumns+templateSendFrom+` WHERE s.id = $1`, id); err != nil {
		return TemplateSend{}, notFound(err, "群发")
	}
	return out, nil
}

// Sends lists the sends, newest first.
func (s *TemplateMessageService) Sends(ctx context.Context) ([]TemplateSend, error) {
	var out []TemplateSend
	if err := s.db.SelectContext(ctx, &out, `SELECT `+templateSendColumns+templateSendFrom+` ORDER BY s.id DESC LIMIT 200`); err != nil {
		return nil, fmt.Errorf("templates: sends: %w", err)
	}
	return out, nil
}
