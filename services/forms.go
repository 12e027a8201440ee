package services

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// FieldKind is the kind of a form field. The mobile phone field is not one:
// every form has it, required.
type FieldKind string

// Field kinds. The built-in ones have a fixed answer key (their kind); custom
// ones get c1, c2…
const (
	FieldName     FieldKind = "name"
	FieldCompany  FieldKind = "company"
	FieldJobTitle FieldKind = "job_title"
	FieldEmail    FieldKind = "email"
	FieldCity     FieldKind = "city"
	FieldText     FieldKind = "text"   // custom free text
	FieldSingle   FieldKind = "single" // custom single choice
	FieldMulti    FieldKind = "multi"  // custom multiple choice
)

// FieldKinds lists the kinds in the order the admin page offers them, with
// their default labels.
var FieldKinds = []struct {
	Kind  FieldKind
	Label string
}{{FieldName, "姓名"}, {FieldCompany, "公司"}, {FieldJobTitle, "职位"}, {FieldEmail, "邮箱"}, {FieldCity, "城市"},
	{FieldText, "自定义文本"}, {FieldSingle, "单选"}, {FieldMulti, "多选"}}

// After-submit actions.
const (
	AfterMessage    = "message"     // the success message only
	AfterEmployeeQR = "employee_qr" // the attributed employee's contact QR code
	AfterURL        = "url"         // go to a URL on the allowed list
)

// Limits of a form definition and of its answers.
const (
	maxFields      = 20
	maxOptions     = 20
	maxOptionLen   = 50
	maxLabelLen    = 50
	maxAnswerLen   = 200 // built-in text fields
	maxCustomLen   = 500 // custom free text
	maxEmailLen    = 254
	maxTitleLen    = 100
	maxDescLen     = 2000
	maxConsentLen  = 2000
	maxSuccessLen  = 500
	maxFormURLLen  = 1000
	slugLen        = 16
	formsPageLimit = 200
)

// Field is one question of a form.
type Field struct {
	Key      string    `json:"key"`
	Kind     FieldKind `json:"kind"`
	Label    string    `json:"label"`
	Required bool      `json:"required"`
	Options  []string  `json:"options,omitempty"`
}

// Choice reports whether the field is answered by picking options.
func (f Field) Choice() bool { return f.Kind == FieldSingle || f.Kind == FieldMulti }

// Form is a registration form definition.
type Form struct {
	ID             int64     `db:"id"`
	Slug           string    `db:"slug"`
	Title          string    `db:"title"`
	CoverURL       string    `db:"cover_url"`
	Description    string    `db:"description"`
	Fields         []Field   `db:"-"`
	FieldsJSON     []byte    `db:"fields"`
	ConsentText    string    `db:"consent_text"`
	ConsentVersion int       `db:"consent_version"`
	PrivacyURL     string    `db:"privacy_url"`
	SuccessMessage string    `db:"success_message"`
	AfterSubmit    string    `db:"after_submit"`
	AfterURL       string    `db:"after_url"`
	RequireWeChat  bool      `db:"require_wechat"`
	SMSVerify      bool      `db:"sms_verify"`
	Published      bool      `db:"published"`
	CreatedBy      string    `db:"created_by"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

// FormInput is what an admin saves.
type FormInput struct {
	Title          string
	CoverURL       string
	Description    string
	Fields         []Field
	ConsentText    string
	PrivacyURL     string
	SuccessMessage string
	AfterSubmit    string
	AfterURL       string
	RequireWeChat  bool
	SMSVerify      bool
	Published      bool
}

// FormService defines forms and answers for them.
type FormService struct {
	db    *sqlx.DB
	audit *AuditService
	// ownHost is BASE_URL's host, always an allowed after-submit target.
	ownHost string
	now     func() time.Time
	cache   *formCache
}

// NewFormService returns the service; baseURL is the app's public URL.
func NewFormService(db *sqlx.DB, audit *AuditService, baseURL string) *FormService {
	host := ""
	if u, err := url.Parse(baseURL); err == nil {
		host = strings.ToLower(u.Hostname())
	}
	return &FormService{db: db, audit: audit, ownHost: host, now: time.Now, cache: newFormCache()}
}

const formColumns = `id, slug, title, cover_url, description, fields, consent_text, consent_version, privacy_url,
success_message, after_submit, after_url, require_wechat, sms_verify, published, created_by, created_at, updated_at`

// Validate checks and normalises the input in place. Errors: EINVALID.
func (in *FormInput) Validate() error {
	bad := map[string]string{}
	in.Title = strings.TrimSpace(in.Title)
	in.ConsentText = strings.TrimSpace(in.ConsentText)
	checkLen(bad, "title", in.Title, 1, maxTitleLen)
	checkLen(bad, "description", in.Description, 0, maxDescLen)
	checkLen(bad, "consent_text", in.ConsentText, 1, maxConsentLen)
	checkLen(bad, "success_message", in.SuccessMessage, 0, maxSuccessLen)
	checkURL(bad, "cover_url", in.CoverURL, false)
	checkURL(bad, "privacy_url", in.PrivacyURL, false)
	if in.PrivacyURL == "" {
		bad["privacy_url"] = "请填写隐私政策链接"
	}
	switch in.AfterSubmit {
	case "":
		in.AfterSubmit = AfterMessage
	case AfterMessage, AfterEmployeeQR:
	case AfterURL:
		checkURL(bad, "after_url", in.AfterURL, true)
	default:
		bad["after_submit"] = "未知的提交后动作"
	}
	if in.AfterSubmit != AfterURL {
		in.AfterURL = ""
	}
	if err := normalizeFields(in.Fields, bad); err != nil {
		return err
	}
	if len(bad) > 0 {
		return Invalid("请检查表单设置", bad)
	}
	return nil
}

func checkLen(bad map[string]string, field, v string, lo, hi int) {
	n := utf8.RuneCountInString(v)
	switch {
	case n < lo:
		bad[field] = "必填"
	case n > hi:
		bad[field] = fmt.Sprintf("最多 %d 个字", hi)
	}
}

// checkURL accepts an empty value (unless required) or an absolute http(s) URL.
func checkURL(bad map[string]string, field, v string, required bool) {
	if v == "" {
		if required {
			bad[field] = "必填"
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(v) > maxFormURLLen {
		bad[field] = "请填写以 https:// 开头的完整链接"
	}
}

// normalizeFields checks the fields and assigns their answer keys.
func normalizeFields(fields []Field, bad map[string]string) error {
	if len(fields) > maxFields {
		return Invalid("字段过多", map[string]string{"fields": fmt.Sprintf("最多 %d 个字段", maxFields)})
	}
	seen := map[FieldKind]bool{}
	custom := 0
	for i := range fields {
		f := &fields[i]
		name := fmt.Sprintf("fields.%d", i)
		f.Label = strings.TrimSpace(f.Label)
		checkLen(bad, name+".label", f.Label, 1, maxLabelLen)
		switch f.Kind {
		case FieldName, FieldCompany, FieldJobTitle, FieldEmail, FieldCity:
			if seen[f.Kind] {
				bad[name+".kind"] = "同一类字段只能有一个"
			}
			seen[f.Kind], f.Key, f.Options = true, string(f.Kind), nil
		case FieldText, FieldSingle, FieldMulti:
			custom++
			f.Key = fmt.Sprintf("c%d", custom)
		default:
			bad[name+".kind"] = "未知的字段类型"
			continue
		}
		if f.Choice() {
			f.Options = cleanOptions(f.Options, bad, name+".options")
		} else {
			f.Options = nil
		}
	}
	return nil
}

func cleanOptions(opts []string, bad map[string]string, name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range opts {
		o = strings.TrimSpace(o)
		if o == "" || seen[o] {
			continue
		}
		if utf8.RuneCountInString(o) > maxOptionLen {
			bad[name] = fmt.Sprintf("每个选项最多 %d 个字", maxOptionLen)
		}
		seen[o] = true
		out = append(out, o)
	}
	if len(out) < 2 || len(out) > maxOptions {
		bad[name] = fmt.Sprintf("请填写 2 到 %d 个选项，每行一个", maxOptions)
	}
	return out
}

// newSlug returns 16 random base32 characters (80 bits).
func newSlug() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// CreateForm saves a new form and audits it. Errors: EINVALID.
func (s *FormService) CreateForm(ctx context.Context, in FormInput, actorKind, actorID string) (Form, error) {
	if err := s.validate(ctx, &in); err != nil {
		return Form{}, err
	}
	fields, _ := json.Marshal(nonNil(in.Fields))
	var f Form
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &f, `INSERT INTO forms (slug, title, cover_url, description, fields, consent_text,
privacy_url, success_message, after_submit, after_url, require_wechat, sms_verify, published, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING `+formColumns,
			newSlug(), in.Title, in.CoverURL, in.Description, fields, in.ConsentText, in.PrivacyURL, in.SuccessMessage,
			in.AfterSubmit, in.AfterURL, in.RequireWeChat, in.SMSVerify, in.Published, actorKind+":"+actorID)
		if err != nil {
			return fmt.Errorf("forms: create: %w", err)
		}
		if err := s.saveConsent(ctx, tx, f); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: actorKind, ActorID: actorID, Action: "form_created",
			TargetKind: "form", TargetID: fmt.Sprint(f.ID), Detail: map[string]any{"title": f.Title}})
	})
	if err != nil {
		return Form{}, err
	}
	return f, f.decode()
}

// UpdateForm changes a form; a changed consent text gets a new version.
// Errors: EINVALID, ENOTFOUND.
func (s *FormService) UpdateForm(ctx context.Context, id int64, in FormInput, actorKind, actorID string) (Form, error) {
	if err := s.validate(ctx, &in); err != nil {
		return Form{}, err
	}
	fields, _ := json.Marshal(nonNil(in.Fields))
	var f Form
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &f, `UPDATE forms SET title = $2, cover_url = $3, description = $4, fields = $5,
consent_version = consent_version + (consent_text IS DISTINCT FROM $6 OR privacy_url IS DISTINCT FROM $7)::int,
consent_text = $6, privacy_url = $7, success_message = $8, after_submit = $9, after_url = $10,
require_wechat = $11, sms_verify = $12, published = $13, updated_at = now()
WHERE id = $1 RETURNING `+formColumns, id, in.Title, in.CoverURL, in.Description, fields, in.ConsentText,
			in.PrivacyURL, in.SuccessMessage, in.AfterSubmit, in.AfterURL, in.RequireWeChat, in.SMSVerify, in.Published)
		if err != nil {
			return notFound(err, "表单")
		}
		if err := s.saveConsent(ctx, tx, f); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: actorKind, ActorID: actorID, Action: "form_updated",
			TargetKind: "form", TargetID: fmt.Sprint(f.ID), Detail: map[string]any{"published": f.Published}})
	})
	s.cache.drop(f.Slug)
	if err != nil {
		return Form{}, err
	}
	return f, f.decode()
}

func (s *FormService) saveConsent(ctx context.Context, tx *sqlx.Tx, f Form) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO form_consents (form_id, version, text, privacy_url)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, f.ID, f.ConsentVersion, f.ConsentText, f.PrivacyURL)
	if err != nil {
		return fmt.Errorf("forms: consent: %w", err)
	}
	return nil
}

func (s *FormService) validate(ctx context.Context, in *FormInput) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if in.AfterSubmit == AfterURL {
		ok, err := s.RedirectAllowed(ctx, in.AfterURL)
		if err != nil {
			return err
		}
		if !ok {
			return Invalid("请检查表单设置", map[string]string{"after_url": "该域名不在允许跳转的列表中"})
		}
	}
	return nil
}

func nonNil(f []Field) []Field {
	if f == nil {
		return []Field{}
	}
	return f
}

func (f *Form) decode() error {
	if err := json.Unmarshal(f.FieldsJSON, &f.Fields); err != nil {
		return fmt.Errorf("forms: fields of %d: %w", f.ID, err)
	}
	return nil
}

// FindFormByID returns a form. Errors: ENOTFOUND.
func (s *FormService) FindFormByID(ctx context.Context, id int64) (Form, error) {
	var f Form
	if err := s.db.GetContext(ctx, &f, `SELECT `+formColumns+` FROM forms WHERE id = $1`, id); err != nil {
		return Form{}, notFound(err, "表单")
	}
	return f, f.decode()
}

// FindFormBySlug returns a form, published or not (callers decide who may
// see an unpublished one). Errors: ENOTFOUND.
func (s *FormService) FindFormBySlug(ctx context.Context, slug string) (Form, error) {
	if len(slug) != slugLen {
		return Form{}, Errorf(ENOTFOUND, "表单不存在")
	}
	var f Form
	if err := s.db.GetContext(ctx, &f, `SELECT `+formColumns+` FROM forms WHERE slug = $1`, slug); err != nil {
		return Form{}, notFound(err, "表单")
	}
	return f, f.decode()
}

// FindPublishedForm returns a published form; an unpublished one is
// ENOTFOUND, as if it did not exist. Answers are cached for a few seconds:
// every page view and submission asks, and a change (un-publishing) may take
// that long to show on other instances.
func (s *FormService) FindPublishedForm(ctx context.Context, slug string) (Form, error) {
	if f, ok := s.cache.get(slug, s.now()); ok {
		return f, nil
	}
	f, err := s.FindFormBySlug(ctx, slug)
	if err == nil && !f.Published {
		return Form{}, Errorf(ENOTFOUND, "表单不存在或已下线")
	}
	if err == nil {
		s.cache.put(f, s.now())
	}
	return f, err
}

// FormSummary is a form in lists, with its submission count.
type FormSummary struct {
	Form
	Submissions int        `db:"submissions"`
	LastAt      *time.Time `db:"last_at"`
}

// ListForms returns every form, newest first, with the counts of the
// submissions the operator may see (console_access.go). Errors: EFORBIDDEN
// (staff).
func (s *FormService) ListForms(ctx context.Context, v Operator) ([]FormSummary, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	sc, err := scopeOf(ctx, s.db, v)
	if err != nil {
		return nil, err
	}
	all, emps := sc.args()
	var out []FormSummary
	err = s.db.SelectContext(ctx, &out, `SELECT f.id, f.slug, f.title, f.cover_url, f.description, f.fields,
f.consent_text, f.consent_version, f.privacy_url, f.success_message, f.after_submit, f.after_url, f.require_wechat,
f.sms_verify, f.published, f.created_by, f.created_at, f.updated_at,
coalesce(c.n, 0) AS submissions, c.last_at
FROM forms f LEFT JOIN LATERAL (SELECT count(*) AS n, max(fs.created_at) AS last_at FROM form_submissions fs
WHERE fs.form_id = f.id AND `+submissionVisible(2)+`) c ON true ORDER BY f.updated_at DESC LIMIT $1`, formsPageLimit, all, emps)
	if err != nil {
		return nil, fmt.Errorf("forms: list: %w", err)
	}
	for i := range out {
		if err := out[i].decode(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PublishedForms returns the published forms, most recently changed first:
// the materials an employee can send from the sidebar.
func (s *FormService) PublishedForms(ctx context.Context) ([]Form, error) {
	var out []Form
	err := s.db.SelectContext(ctx, &out, `SELECT `+formColumns+` FROM forms WHERE published
ORDER BY updated_at DESC LIMIT $1`, formsPageLimit)
	if err != nil {
		return nil, fmt.Errorf("forms: published: %w", err)
	}
	for i := range out {
		if err := out[i].decode(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RedirectAllowed reports whether an after-submit URL points to BASE_URL's
// host or a host on the allowed list (https only, except BASE_URL's own).
func (s *FormService) RedirectAllowed(ctx context.Context, raw string) (bool, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false, nil
	}
	host := strings.ToLower(u.Hostname())
	if host == s.ownHost && (u.Scheme == "https" || u.Scheme == "http") {
		return true, nil
	}
	if u.Scheme != "https" {
		return false, nil
	}
	var one int
	err = s.db.GetContext(ctx, &one, `SELECT 1 FROM form_redirect_hosts WHERE host = $1`, host)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("forms: redirect hosts: %w", err)
	}
	return true, nil
}

// RedirectHosts returns the allowed after-submit hosts.
func (s *FormService) RedirectHosts(ctx context.Context) ([]string, error) {
	var hosts []string
	if err := s.db.SelectContext(ctx, &hosts, `SELECT host FROM form_redirect_hosts ORDER BY host`); err != nil {
		return nil, fmt.Errorf("forms: redirect hosts: %w", err)
	}
	return hosts, nil
}

// SetRedirectHosts replaces the allowed after-submit hosts and audits it.
// Errors: EINVALID.
func (s *FormService) SetRedirectHosts(ctx context.Context, hosts []string, actorKind, actorID string) error {
	var clean []string
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/:@ ?#") || len(h) > 253 || !strings.Contains(h, ".") {
			return Invalid("请检查域名", map[string]string{"hosts": "每行一个域名，如 www.example.com：" + h})
		}
		clean = append(clean, h)
	}
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM form_redirect_hosts`); err != nil {
			return fmt.Errorf("forms: hosts: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO form_redirect_hosts (host) SELECT DISTINCT unnest($1::text[])`,
			pq.Array(clean)); err != nil {
			return fmt.Errorf("forms: hosts: %w", err)
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: actorKind, ActorID: actorID,
			Action: "form_redirect_hosts_changed", Detail: map[string]any{"hosts": clean}})
	})
}

// formCacheTTL is how long a published form is served from memory.
const formCacheTTL = 3 * time.Second

type formCache struct {
	mu    sync.Mutex
	forms map[string]cachedForm
}

type cachedForm struct {
	form Form
	at   time.Time
}

func newFormCache() *formCache { return &formCache{forms: map[string]cachedForm{}} }

func (c *formCache) get(slug string, now time.Time) (Form, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.forms[slug]
	if !ok || now.Sub(e.at) > formCacheTTL {
		return Form{}, false
	}
	return e.form, true
}

func (c *formCache) put(f Form, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.forms) > 1000 {
		clear(c.forms)
	}
	c.forms[f.Slug] = cachedForm{form: f, at: now}
}

func (c *formCache) drop(slug string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.forms, slug)
}
