package services

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// OA QR code reply kinds: a text message (with the form as a link in it) or
// a news item (one article card).
const (
	ReplyText = "text"
	ReplyNews = "news"
)

// OAQRCode is an Official Account channel QR code: a parametric QR code whose
// scene is Code. Code is also the channel of everything it brings: the scan
// moments and the registrations through its reply's form link.
type OAQRCode struct {
	ID              int64      `db:"id"`
	AppID           string     `db:"app_id"`
	Code            string     `db:"code"`
	Name            string     `db:"name"`
	Permanent       bool       `db:"permanent"`
	ExpiresAt       *time.Time `db:"expires_at"`
	Ticket          string     `db:"ticket"`
	URL             string     `db:"url"`
	ImageURL        string     `db:"image_url"`
	ReplyKind       string     `db:"reply_kind"`
	ReplyText       string     `db:"reply_text"`
	NewsTitle       string     `db:"news_title"`
	NewsDescription string     `db:"news_description"`
	NewsPicURL      string     `db:"news_pic_url"`
	FormSlug        string     `db:"form_slug"`
	FormTitle       string     `db:"form_title"`
	CreatedBy       string     `db:"created_by"`
	CreatedAt       time.Time  `db:"created_at"`
	Version         int64      `db:"version"`
}

// OAQRCodeStats is a code with its results.
type OAQRCodeStats struct {
	OAQRCode
	Scans         int64 `db:"scans"`         // subscribe-by-QR and SCAN events
	Follows       int64 `db:"follows"`       // of which new followers
	Registrations int64 `db:"registrations"` // form submissions attributed to the code
}

// OAQRCodeInput is what an admin saves. ExpireDays 0 with Permanent false is
// refused: a temporary code needs a lifetime (1–30 days).
type OAQRCodeInput struct {
	Code            string
	Name            string
	Permanent       bool
	ExpireDays      int
	ReplyKind       string
	ReplyText       string
	NewsTitle       string
	NewsDescription string
	NewsPicURL      string
	FormSlug        string
}

// OAReply is the passive reply to a scan, ready to render.
type OAReply struct {
	Kind        string // ReplyText or ReplyNews
	Content     string // text: the message, the form link as <a href>
	Title       string // news
	Description string
	PicURL      string
	URL         string // the attributed form link ("" without form)
}

// QRCodeMaker is what QR codes need of the OA client.
type QRCodeMaker interface {
	OACreateQRCode(ctx context.Context, scene string, expireSeconds int) (wecom.QRCode, error)
}

// OAQRCodeService manages OA channel QR codes and answers scans with their
// replies from a small cache (the callback ack waits on it).
type OAQRCodeService struct {
	db      *sqlx.DB
	audit   *AuditService
	attr    *Attributor
	baseURL string
	// Recheck is how stale the cached replies may be: another instance's
	// change is seen within it (one version query per Recheck, only
	// when a scan arrives).
	Recheck time.Duration
	cache   replyCache
}

// NewOAQRCodeService returns the service; baseURL is the app's public URL.
func NewOAQRCodeService(db *sqlx.DB, audit *AuditService, attr *Attributor, baseURL string) *OAQRCodeService {
	return &OAQRCodeService{db: db, audit: audit, attr: attr, baseURL: strings.TrimRight(baseURL, "/"), Recheck: time.Second}
}

// reservedChannels are channel names other features write; a QR code named
// like one would mix its counts with theirs.
var reservedChannels = map[string]bool{"sidebar": true, "welcome": true, "oa_menu": true, "template": true,
	"live": true, "form": true, "mp": true, "oa": true, "poster": true}

// maxReplyText keeps a text reply under WeChat's 2,048-byte message limit
// with room for the form link.
const maxReplyText = 600

// Validate checks and normalises the input in place. Errors: EINVALID.
func (in *OAQRCodeInput) Validate() error {
	in.Code, in.Name = strings.TrimSpace(in.Code), strings.TrimSpace(in.Name)
	in.ReplyText, in.NewsTitle = strings.TrimSpace(in.ReplyText), strings.TrimSpace(in.NewsTitle)
	in.NewsDescription, in.NewsPicURL = strings.TrimSpace(in.NewsDescription), strings.TrimSpace(in.NewsPicURL)
	bad := map[string]string{}
	if !channelCode.MatchString(in.Code) {
		bad["code"] = "渠道码为 1–30 个字母、数字、下划线或连字符"
	} else if reservedChannels[strings.ToLower(in.Code)] {
		bad["code"] = "该渠道码为系统保留，请换一个"
	}
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > 30 {
		bad["name"] = "名称为 1–30 个字"
	}
	if !in.Permanent && (in.ExpireDays < 1 || in.ExpireDays > 30) {
		bad["expire_days"] = "临时二维码有效期为 1–30 天"
	}
	in.validateReply(bad)
	if len(bad) > 0 {
		return Invalid("请检查标红的字段", bad)
	}
	return nil
}

func (in *OAQRCodeInput) validateReply(bad map[string]string) {
	switch in.ReplyKind {
	case ReplyText:
		if n := utf8.RuneCountInString(in.ReplyText); n < 1 || n > maxReplyText {
			bad["reply_text"] = fmt.Sprintf("回复内容为 1–%d 个字", maxReplyText)
		}
	case ReplyNews:
		if n := utf8.RuneCountInString(in.NewsTitle); n < 1 || n > 64 {
			bad["news_title"] = "图文标题为 1–64 个字"
		}
		if utf8.RuneCountInString(in.NewsDescription) > 120 {
			bad["news_description"] = "图文摘要不超过 120 个字"
		}
		if in.NewsPicURL != "" && !isHTTPURL(in.NewsPicURL) {
			bad["news_pic_url"] = "图片地址须为 http(s) 链接"
		}
		if in.FormSlug == "" {
			bad["form"] = "图文回复须链接一个表单"
		}
	default:
		bad["reply_kind"] = "请选择回复类型"
	}
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(raw) <= 1000
}

const oaQRColumns = `id, app_id, code, name, permanent, expires_at, ticket, url, image_url, reply_kind, reply_text,
news_title, news_description, news_pic_url, form_slug, form_title, created_by, created_at, version`

// Create validates the input, creates the QR code in WeChat and saves it,
// audited. Admins only. Errors: EFORBIDDEN, EINVALID, ECONFLICT (code
// taken), EUNAVAILABLE.
func (s *OAQRCodeService) Create(ctx context.Context, maker QRCodeMaker, appID string, in OAQRCodeInput, by Actor) (OAQRCode, error) {
	if err := by.requireAdmin(); err != nil {
		return OAQRCode{}, err
	}
	if err := in.Validate(); err != nil {
		return OAQRCode{}, err
	}
	title, err := s.formTitle(ctx, in.FormSlug)
	if err != nil {
		return OAQRCode{}, err
	}
	if err := s.checkFree(ctx, in.Code); err != nil {
		return OAQRCode{}, err
	}
	qr, err := maker.OACreateQRCode(ctx, in.Code, in.expireSeconds())
	if err != nil {
		return OAQRCode{}, qrCodeError(err)
	}
	q, err := s.insert(ctx, appID, in, title, qr, by)
	if err != nil {
		return OAQRCode{}, err
	}
	s.cache.invalidate()
	return q, nil
}

func (in OAQRCodeInput) expireSeconds() int {
	if in.Permanent {
		return 0
	}
	return in.ExpireDays * 24 * 3600
}

func (s *OAQRCodeService) checkFree(ctx context.Context, code string) error {
	var taken bool
	if err := s.db.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM oa_qrcodes WHERE code = $1)`, code); err != nil {
		return fmt.Errorf("oa qrcodes: check code: %w", err)
	}
	if taken {
		return &Error{Code: ECONFLICT, Message: "渠道码已被使用", Fields: map[string]string{"code": "渠道码已被使用"}}
	}
	return nil
}

// insert saves the code and its audit entry in one transaction. A permanent
// code created in WeChat but lost to a concurrent save of the same code is
// harmless: WeChat has no delete, and the scene is the same.
func (s *OAQRCodeService) insert(ctx context.Context, appID string, in OAQRCodeInput, title string, qr wecom.QRCode, by Actor) (OAQRCode, error) {
	var expires *time.Time
	if qr.ExpireSeconds > 0 {
		t := time.Now().Add(time.Duration(qr.ExpireSeconds) * time.Second)
		expires = &t
	}
	var q OAQRCode
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &q, `INSERT INTO oa_qrcodes (app_id, code, name, permanent, expires_at, ticket, url, image_url,
    reply_kind, reply_text, news_title, news_description, news_pic_url, form_slug, form_title, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING `+oaQRColumns,
			appID, in.Code, in.Name, in.Permanent, expires, qr.Ticket, qr.URL, qr.ImageURL, in.ReplyKind, in.ReplyText,
			in.NewsTitle, in.NewsDescription, in.NewsPicURL, in.FormSlug, title, by.Kind+":"+by.ID)
		if isUniqueViolation(err) {
			return &Error{Code: ECONFLICT, Message: "渠道码已被使用", Fields: map[string]string{"code": "渠道码已被使用"}}
		}
		if err != nil {
			return fmt.Errorf("oa qrcodes: insert: %w", err)
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: "oa_qrcode_created",
			TargetKind: "oa_qrcode", TargetID: fmt.Sprint(q.ID), Detail: map[string]any{"code": q.Code, "permanent": q.Permanent}})
	})
	return q, err
}

// qrCodeError turns WeChat's refusals into messages for the admin.
func qrCodeError(err error) error {
	switch {
	case wecom.IsAPIError(err, 45009):
		return Errorf(EUNAVAILABLE, "公众号今日生成二维码次数已达上限，请明天再试")
	case wecom.IsAPIError(err, 48001):
		return Errorf(EUNAVAILABLE, "公众号未获得生成带参数二维码的权限（需认证服务号）")
	case wecom.IsAPIError(err):
		return Errorf(EUNAVAILABLE, "微信拒绝生成二维码，请稍后再试")
	}
	return err
}

// formTitle checks that slug is a published form ("" for none).
func (s *OAQRCodeService) formTitle(ctx context.Context, slug string) (string, error) {
	return publishedFormTitle(ctx, s.db, slug)
}

// publishedFormTitle returns the title of the published form slug ("" for
// no slug). Errors: EINVALID.
func publishedFormTitle(ctx context.Context, db *sqlx.DB, slug string) (string, error) {
	if slug == "" {
		return "", nil
	}
	var title string
	err := db.GetContext(ctx, &title, `SELECT title FROM forms WHERE slug = $1 AND published`, slug)
	if ErrorCode(notFound(err, "")) == ENOTFOUND {
		return "", Invalid("表单不存在或未发布", map[string]string{"form": "表单不存在或未发布"})
	}
	if err != nil {
		return "", fmt.Errorf("oa qrcodes: form: %w", err)
	}
	return title, nil
}

// PublishedForms lists the forms a reply can link, newest first.
func (s *OAQRCodeService) PublishedForms(ctx context.Context) ([]FormChoice, error) {
	var out []FormChoice
	if err := s.db.SelectContext(ctx, &out, `SELECT slug, title FROM forms WHERE published ORDER BY updated_at DESC LIMIT 200`); err != nil {
		return nil, fmt.Errorf("oa qrcodes: forms: %w", err)
	}
	return out, nil
}

// List returns the live codes with their counts, newest first.
func (s *OAQRCodeService) List(ctx context.Context) ([]OAQRCodeStats, error) {
	var out []OAQRCodeStats
	err := s.db.SelectContext(ctx, &out, `SELECT q.id, q.app_id, q.code, q.name, q.permanent, q.expires_at, q.ticket, q.url,
    q.image_url, q.reply_kind, q.reply_text, q.news_title, q.news_description, q.news_pic_url, q.form_slug, q.form_title,
    q.created_by, q.created_at, q.version,
    (SELECT count(*) FROM moments m WHERE m.channel = q.code AND m.kind IN ('oa_subscribed', 'oa_scanned')) AS scans,
    (SELECT count(*) FROM moments m WHERE m.channel = q.code AND m.kind = 'oa_subscribed') AS follows,
    (SELECT count(*) FROM form_submissions f WHERE f.channel = q.code) AS registrations
FROM oa_qrcodes q WHERE q.deleted_at IS NULL ORDER BY q.id DESC LIMIT 500`)
	if err != nil {
		return nil, fmt.Errorf("oa qrcodes: list: %w", err)
	}
	return out, nil
}

// Get returns one live code. Errors: ENOTFOUND.
func (s *OAQRCodeService) Get(ctx context.Context, id int64) (OAQRCode, error) {
	var q OAQRCode
	err := s.db.GetContext(ctx, &q, `SELECT `+oaQRColumns+` FROM oa_qrcodes WHERE id = $1 AND deleted_at IS NULL`, id)
	if err != nil {
		return OAQRCode{}, notFound(err, "二维码")
	}
	return q, nil
}

// Retire stops answering the code's scans (WeChat cannot delete a QR code;
// the printed code still fires events, recorded as usual). Audited.
// Admins only. Errors: EFORBIDDEN, ENOTFOUND.
func (s *OAQRCodeService) Retire(ctx context.Context, id int64, by Actor) error {
	if err := by.requireAdmin(); err != nil {
		return err
	}
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oa_qrcodes SET deleted_at = now(), version = nextval('oa_qrcodes_version')
WHERE id = $1 AND deleted_at IS NULL`, id)
		if err != nil {
			return fmt.Errorf("oa qrcodes: retire: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "二维码不存在")
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: "oa_qrcode_retired",
			TargetKind: "oa_qrcode", TargetID: fmt.Sprint(id)})
	})
	if err == nil {
		s.cache.invalidate()
	}
	return err
}

// qrLinkTTL is how long a reply's form link stays attributed.
const qrLinkTTL = 30 * 24 * time.Hour

// Reply builds the passive reply of a code; its form link carries the code
// as the attribution channel.
func (s *OAQRCodeService) Reply(q OAQRCode) OAReply {
	r := OAReply{Kind: q.ReplyKind}
	if q.FormSlug != "" {
		at := Attribution{Channel: q.Code}
		r.URL = s.attr.AttributedLink(s.baseURL, Form{Slug: q.FormSlug}, at, qrLinkTTL,
			map[string]string{"utm_source": "wechat_oa", "utm_medium": "qrcode", "utm_campaign": q.Code})
	}
	if q.ReplyKind == ReplyNews {
		r.Title, r.Description, r.PicURL = q.NewsTitle, q.NewsDescription, q.NewsPicURL
		return r
	}
	r.Content = q.ReplyText
	if r.URL != "" {
		r.Content += "\n<a href=\"" + r.URL + "\">" + html.EscapeString(q.FormTitle) + "</a>"
	}
	return r
}
