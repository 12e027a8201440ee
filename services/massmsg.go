package services

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Attachment kinds of a mass message.
const (
	AttachNone        = "none"
	AttachForm        = "form"
	AttachMiniProgram = "miniprogram"
)

// MassWeek is the per-customer limit window. WeCom lets a customer receive
// at most one corp mass message per period (the protocol notes say per
// day today; it used to be per week). The app plans with the stricter rule:
// a customer who was sent (status 0 waiting, or 1 received) a mass message
// in the last 7 × 24 hours — a rolling week, not the calendar week, so a
// message on Sunday does not free the customer on Monday — is left out, so
// WeCom never answers "已达上限" for a message planned here.
const MassWeek = 7 * 24 * time.Hour

// MassMessage is a WeCom mass message to a segment's customers.
type MassMessage struct {
	ID           int64      `db:"id"`
	CorpID       string     `db:"corp_id"`
	Title        string     `db:"title"`
	SegmentID    *int64     `db:"segment_id"`
	SegmentName  string     `db:"segment_name"`
	Text         string     `db:"text"`
	AttachKind   string     `db:"attach_kind"`
	FormID       *int64     `db:"form_id"`
	FormTitle    string     `db:"form_title"`
	MPTitle      string     `db:"mp_title"`
	MPPage       string     `db:"mp_page"`
	MPMediaID    string     `db:"mp_media_id"`
	Status       string     `db:"status"`
	LastError    string     `db:"last_error"`
	ExcludedWeek int        `db:"excluded_week"`
	CreatedBy    string     `db:"created_by"`
	CreatedAt    time.Time  `db:"created_at"`
	SentAt       *time.Time `db:"sent_at"`
	RefreshedAt  *time.Time `db:"refreshed_at"`
}

const massColumns = `id, corp_id, title, segment_id, segment_name, text, attach_kind, form_id, form_title, mp_title,
mp_page, mp_media_id, status, last_error, excluded_week, created_by, created_at, sent_at, refreshed_at`

// MassMessageInput is what an admin writes.
type MassMessageInput struct {
	Title      string
	SegmentID  int64
	Text       string
	AttachKind string
	FormID     int64
	MPTitle    string
	MPPage     string
	MPMediaID  string
}

func (in *MassMessageInput) validate() map[string]string {
	in.Title, in.Text = strings.TrimSpace(in.Title), strings.TrimSpace(in.Text)
	in.MPTitle, in.MPPage, in.MPMediaID = strings.TrimSpace(in.MPTitle), strings.TrimSpace(in.MPPage), strings.TrimSpace(in.MPMediaID)
	bad := map[string]string{}
	if n := utf8.RuneCountInString(in.Title); n < 1 || n > 60 {
		bad["title"] = "请填写标题（不超过 60 字）"
	}
	if in.SegmentID <= 0 {
		bad["segment"] = "请选择人群"
	}
	if len(in.Text) > 4000 {
		bad["text"] = "消息不超过 4000 字节"
	}
	switch in.AttachKind {
	case AttachNone, "":
		in.AttachKind = AttachNone
		if in.Text == "" {
			bad["text"] = "请填写消息内容或添加附件"
		}
	case AttachForm:
		if in.FormID <= 0 {
			bad["form"] = "请选择表单"
		}
	case AttachMiniProgram:
		if in.MPTitle == "" || len(in.MPTitle) > 64 || in.MPPage == "" || in.MPMediaID == "" {
			bad["miniprogram"] = "小程序卡片需要标题（不超过 64 字节）、页面路径和封面 media_id"
		}
	default:
		bad["attach"] = "未知的附件类型"
	}
	return bad
}

// MassMessageService plans, sends and follows WeCom mass messages.
type MassMessageService struct {
	db       *sqlx.DB
	audit    *AuditService
	segments *SegmentService
	forms    MaterialSource
	attr     *Attributor
	wechat   WeChatSource
	baseURL  string
	now      func() time.Time
}

// NewMassMessageService returns the service; form links are signed with
// attr and point at baseURL.
func NewMassMessageService(db *sqlx.DB, audit *AuditService, segments *SegmentService, forms MaterialSource,
	attr *Attributor, wechat WeChatSource, baseURL string) *MassMessageService {
	return &MassMessageService{db: db, audit: audit, segments: segments, forms: forms, attr: attr, wechat: wechat,
		baseURL: strings.TrimRight(baseURL, "/"), now: time.Now}
}

// CreateMassMessage saves a draft. Admins only. Errors: EFORBIDDEN, EINVALID.
func (s *MassMessageService) CreateMassMessage(ctx context.Context, v Operator, in MassMessageInput) (MassMessage, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return MassMessage{}, err
	}
	bad := in.validate()
	seg, formTitle := s.checkRefs(ctx, in, bad)
	if len(bad) > 0 {
		return MassMessage{}, Invalid("请检查标红的字段", bad)
	}
	var id int64
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &id, `INSERT INTO mass_messages (corp_id, title, segment_id, segment_name, text, attach_kind,
    form_id, form_title, mp_title, mp_page, mp_media_id, created_by)
VALUES ((SELECT corp_id FROM wecom_settings), $1, $2, $3, $4, $5, nullif($6, 0), $7, $8, $9, $10, $11) RETURNING id`,
			in.Title, seg.ID, seg.Name, in.Text, in.AttachKind, in.FormID, formTitle, in.MPTitle, in.MPPage, in.MPMediaID, v.Actor())
		if err != nil {
			return fmt.Errorf("massmsg: create: %w", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("mass_message_created", "mass_message", strconv.FormatInt(id, 10),
			map[string]any{"segment_id": seg.ID, "attach": in.AttachKind}))
	})
	if err != nil {
		return MassMessage{}, err
	}
	return s.find(ctx, id)
}

// checkRefs looks up the segment and the form, adding field errors to bad.
func (s *MassMessageService) checkRefs(ctx context.Context, in MassMessageInput, bad map[string]string) (Segment, string) {
	var seg Segment
	if in.SegmentID > 0 {
		var err error
		if seg, err = s.segments.Get(ctx, in.SegmentID); err != nil {
			bad["segment"] = "人群不存在"
		}
	}
	if in.AttachKind != AttachForm || in.FormID <= 0 {
		return seg, ""
	}
	f, err := s.publishedForm(ctx, in.FormID)
	if err != nil {
		bad["form"] = "表单不存在或未发布"
	}
	return seg, f.Title
}

func (s *MassMessageService) publishedForm(ctx context.Context, id int64) (Form, error) {
	forms, err := s.forms.PublishedForms(ctx)
	if err != nil {
		return Form{}, err
	}
	for _, f := range forms {
		if f.ID == id {
			return f, nil
		}
	}
	return Form{}, Errorf(ENOTFOUND, "表单不存在或未发布")
}

func (s *MassMessageService) find(ctx context.Context, id int64) (MassMessage, error) {
	var m MassMessage
	if err := s.db.GetContext(ctx, &m, `SELECT `+massColumns+` FROM mass_messages WHERE id = $1`, id); err != nil {
		return MassMessage{}, wrapErr("massmsg: find", notFound(err, "群发消息"))
	}
	return m, nil
}

// MassMessages lists the mass messages, newest first. Admins and managers.
func (s *MassMessageService) MassMessages(ctx context.Context, v Operator) ([]MassMessage, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	var out []MassMessage
	if err := s.db.SelectContext(ctx, &out, `SELECT `+massColumns+` FROM mass_messages ORDER BY id DESC LIMIT 200`); err != nil {
		return nil, fmt.Errorf("massmsg: list: %w", err)
	}
	return out, nil
}

// MassChoices are what the new-message form offers.
type MassChoices struct {
	Segments []Segment
	Forms    []Form
}

// Choices lists the segments and the published forms. Admins only.
func (s *MassMessageService) Choices(ctx context.Context, v Operator) (MassChoices, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return MassChoices{}, err
	}
	segs, err := s.segments.List(ctx)
	if err != nil {
		return MassChoices{}, err
	}
	forms, err := s.forms.PublishedForms(ctx)
	return MassChoices{Segments: segs, Forms: forms}, err
}
