package services

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// Channel is a channel QR code: a 「联系我」 contact way whose state is the
// channel's code, with the tags to put on customers who add through it and
// the welcome message they get.
type Channel struct {
	ID          int64          `db:"id"`
	CorpID      string         `db:"corp_id"`
	Code        string         `db:"code"`
	Name        string         `db:"name"`
	ConfigID    string         `db:"config_id"`
	QRCode      string         `db:"qr_code"`
	Employees   pq.StringArray `db:"employees"`
	TagIDs      pq.StringArray `db:"tag_ids"`
	WelcomeText string         `db:"welcome_text"`
	FormSlug    string         `db:"form_slug"`
	FormTitle   string         `db:"form_title"`
	SkipVerify  bool           `db:"skip_verify"`
	CreatedBy   string         `db:"created_by"`
	CreatedAt   time.Time      `db:"created_at"`
	// Links are the welcome message's link cards (the form), built for the
	// app's public URL.
	Links []wecom.Link `db:"-"`
}

// ChannelInput is what an admin saves.
type ChannelInput struct {
	Code        string
	Name        string
	Employees   []string
	TagIDs      []string
	WelcomeText string
	FormSlug    string // a published form, or ""
	SkipVerify  bool
}

// ChannelStats are a channel's results: customers who added through it,
// how many of them registered (submitted a form), and the ratio.
type ChannelStats struct {
	Channel
	Adds          int64 `db:"adds"`
	Registrations int64 `db:"registrations"`
}

// Conversion is registrations per add, 0–1.
func (c ChannelStats) Conversion() float64 {
	if c.Adds == 0 {
		return 0
	}
	return float64(c.Registrations) / float64(c.Adds)
}

// FormChoice is a published form a welcome message can link.
type FormChoice struct {
	Slug  string `db:"slug"`
	Title string `db:"title"`
}

// TagChoice is a corp tag a channel can apply.
type TagChoice struct {
	ID    string `db:"tag_id"`
	Name  string `db:"name"`
	Group string `db:"group_name"`
}

// ContactWays is what channels need of the WeCom client.
type ContactWays interface {
	AddContactWay(ctx context.Context, in wecom.ContactWayInput) (wecom.ContactWay, error)
	DeleteContactWay(ctx context.Context, configID string) error
}

// ChannelService manages channel QR codes.
type ChannelService struct {
	db      *sqlx.DB
	baseURL string
}

// NewChannelService returns the service; baseURL is the app's public URL
// (the welcome message's form links point there).
func NewChannelService(db *sqlx.DB, baseURL string) *ChannelService {
	return &ChannelService{db: db, baseURL: strings.TrimRight(baseURL, "/")}
}

var channelCode = regexp.MustCompile(`^[A-Za-z0-9_-]{1,30}$`)

// Validate checks and normalises the input in place. Errors: EINVALID.
func (in *ChannelInput) Validate() error {
	in.Code, in.Name, in.WelcomeText = strings.TrimSpace(in.Code), strings.TrimSpace(in.Name), strings.TrimSpace(in.WelcomeText)
	in.Employees = cleanList(in.Employees)
	in.TagIDs = cleanList(in.TagIDs)
	bad := map[string]string{}
	if !channelCode.MatchString(in.Code) {
		bad["code"] = "渠道码为 1–30 个字母、数字、下划线或连字符"
	}
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > 30 {
		bad["name"] = "名称为 1–30 个字"
	}
	if len(in.Employees) == 0 || len(in.Employees) > 100 {
		bad["employees"] = "请选择 1–100 名员工"
	}
	if len(in.WelcomeText) > 4000 {
		bad["welcome_text"] = "欢迎语不超过 4000 字节"
	}
	if len(bad) > 0 {
		return Invalid("请检查标红的字段", bad)
	}
	return nil
}

func cleanList(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range v {
		if s = strings.TrimSpace(s); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CreateChannel validates the input, creates the contact way in WeCom and
// saves the channel. A code cannot be reused, even after its channel is
// deleted (old relations still carry it). Admins only. Errors: EFORBIDDEN,
// EINVALID, ECONFLICT.
func (s *ChannelService) CreateChannel(ctx context.Context, ways ContactWays, corp string, in ChannelInput, v Operator) (Channel, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return Channel{}, err
	}
	if err := in.Validate(); err != nil {
		return Channel{}, err
	}
	var taken bool
	if err := s.db.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM wecom_channels WHERE corp_id = $1 AND code = $2)`, corp, in.Code); err != nil {
		return Channel{}, fmt.Errorf("channels: check code: %w", err)
	}
	if taken {
		return Channel{}, &Error{Code: ECONFLICT, Message: "渠道码已被使用", Fields: map[string]string{"code": "渠道码已被使用"}}
	}
	title, err := s.formTitle(ctx, in.FormSlug)
	if err != nil {
		return Channel{}, err
	}
	way, err := ways.AddContactWay(ctx, wecom.ContactWayInput{Users: in.Employees, State: in.Code, Remark: in.Name, SkipVerify: in.SkipVerify})
	if err != nil {
		return Channel{}, contactWayError(err)
	}
	var ch Channel
	err = s.db.GetContext(ctx, &ch, `INSERT INTO wecom_channels (corp_id, code, name, config_id, qr_code, employees, tag_ids,
    welcome_text, form_slug, form_title, skip_verify, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING `+channelColumns,
		corp, in.Code, in.Name, way.ConfigID, way.QRCode, pq.Array(in.Employees), pq.Array(nonNilStrings(in.TagIDs)),
		in.WelcomeText, in.FormSlug, title, in.SkipVerify, v.Actor())
	if err != nil {
		// Do not leave an orphan QR code in WeCom (a concurrent save won the code).
		_ = ways.DeleteContactWay(context.WithoutCancel(ctx), way.ConfigID)
		if isUniqueViolation(err) {
			return Channel{}, &Error{Code: ECONFLICT, Message: "渠道码已被使用", Fields: map[string]string{"code": "渠道码已被使用"}}
		}
		return Channel{}, fmt.Errorf("channels: insert: %w", err)
	}
	return s.withLinks(ch), nil
}

// contactWayError turns WeCom's refusals into messages for the admin.
func contactWayError(err error) error {
	switch {
	case wecom.IsAPIError(err, 41054):
		return Invalid("所选员工尚未激活企业微信", map[string]string{"employees": "所选员工尚未激活企业微信"})
	case wecom.IsAPIError(err, 41041):
		return Invalid("员工过多（最多 100 名）", map[string]string{"employees": "最多 100 名"})
	case wecom.IsAPIError(err, 60111, 60011, 40031):
		return Invalid("所选员工不存在或不在应用可见范围内", map[string]string{"employees": "员工不存在或不可见"})
	case wecom.IsAPIError(err, 41045):
		return Errorf(ECONFLICT, "「联系我」数量已达企业上限")
	case wecom.IsAPIError(err):
		return Errorf(EUNAVAILABLE, "企业微信拒绝创建渠道码，请稍后再试")
	}
	return err
}

const channelColumns = `id, corp_id, code, name, config_id, qr_code, employees, tag_ids, welcome_text, form_slug,
form_title, skip_verify, created_by, created_at`

// formTitle checks that slug is a published form and returns its title
// ("" for no form). Forms live in their own feature; without its table no
// form can be linked. Errors: EINVALID.
func (s *ChannelService) formTitle(ctx context.Context, slug string) (string, error) {
	if slug == "" {
		return "", nil
	}
	forms, err := s.PublishedForms(ctx)
	if err != nil {
		return "", err
	}
	for _, f := range forms {
		if f.Slug == slug {
			return f.Title, nil
		}
	}
	return "", Invalid("表单不存在或未发布", map[string]string{"form": "表单不存在或未发布"})
}

// PublishedForms lists the published forms, newest first (none when the
// forms feature is not installed).
func (s *ChannelService) PublishedForms(ctx context.Context) ([]FormChoice, error) {
	var exists bool
	if err := s.db.GetContext(ctx, &exists, `SELECT to_regclass('forms') IS NOT NULL`); err != nil || !exists {
		return nil, err
	}
	var out []FormChoice
	if err := s.db.SelectContext(ctx, &out, `SELECT slug, title FROM forms WHERE published ORDER BY updated_at DESC LIMIT 200`); err != nil {
		return nil, fmt.Errorf("channels: forms: %w", err)
	}
	return out, nil
}

// TagChoices lists the synced corp tags.
func (s *ChannelService) TagChoices(ctx context.Context, corp string) ([]TagChoice, error) {
	var out []TagChoice
	err := s.db.SelectContext(ctx, &out, `SELECT t.tag_id, t.name, coalesce(g.name, '') AS group_name
FROM wecom_tags t LEFT JOIN wecom_tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id
WHERE t.corp_id = $1 AND t.deleted_at IS NULL ORDER BY g.sort_order DESC, g.name, t.sort_order DESC, t.name LIMIT 1000`, corp)
	if err != nil {
		return nil, fmt.Errorf("channels: tags: %w", err)
	}
	return out, nil
}

// EmployeeChoice is a member a channel can route to.
type EmployeeChoice struct {
	UserID string `db:"userid"`
	Name   string `db:"name"`
}

// EmployeeChoices lists the synced members with customer contact.
func (s *ChannelService) EmployeeChoices(ctx context.Context, corp string) ([]EmployeeChoice, error) {
	var out []EmployeeChoice
	err := s.db.SelectContext(ctx, &out, `SELECT userid, name FROM wecom_employees
WHERE corp_id = $1 AND deleted_at IS NULL AND customer_contact ORDER BY name, userid LIMIT 2000`, corp)
	if err != nil {
		return nil, fmt.Errorf("channels: employees: %w", err)
	}
	return out, nil
}

// ChannelByState returns the live channel whose code is state, with its
// welcome text, links and tags: what the add_external_contact handler sends
// and applies. ok is false when no channel has that code.
func (s *ChannelService) ChannelByState(ctx context.Context, corp, state string) (Channel, bool, error) {
	var ch Channel
	err := s.db.GetContext(ctx, &ch, `SELECT `+channelColumns+` FROM wecom_channels
WHERE corp_id = $1 AND code = $2 AND deleted_at IS NULL`, corp, state)
	if ErrorCode(notFound(err, "")) == ENOTFOUND {
		return Channel{}, false, nil
	}
	if err != nil {
		return Channel{}, false, fmt.Errorf("channels: by state: %w", err)
	}
	return s.withLinks(ch), true, nil
}

// withLinks adds the form link card, carrying the channel as UTM campaign.
func (s *ChannelService) withLinks(ch Channel) Channel {
	if ch.FormSlug == "" {
		return ch
	}
	q := url.Values{"utm_source": {"wecom"}, "utm_medium": {"welcome"}, "utm_campaign": {ch.Code}}
	ch.Links = []wecom.Link{{Title: ch.FormTitle, Desc: ch.Name, URL: s.baseURL + "/f/" + ch.FormSlug + "?" + q.Encode()}}
	return ch
}

// Channels lists the live channels with their results, newest first.
// Registrations are the distinct people who added through the channel and
// submitted a form (on any identity they are linked to).
func (s *ChannelService) Channels(ctx context.Context, corp string) ([]ChannelStats, error) {
	var out []ChannelStats
	err := s.db.SelectContext(ctx, &out, `SELECT c.id, c.corp_id, c.code, c.name, c.config_id, c.qr_code, c.employees, c.tag_ids,
    c.welcome_text, c.form_slug, c.form_title, c.skip_verify, c.created_by, c.created_at,
    (SELECT count(DISTINCT f.external_userid) FROM wecom_follows f WHERE f.corp_id = c.corp_id AND f.state = c.code) AS adds,
    (SELECT count(DISTINCT i.user_id) FROM wecom_follows f
       JOIN identities i ON i.kind = 'wecom_external_userid' AND i.scope = f.corp_id AND i.key = f.external_userid
      WHERE f.corp_id = c.corp_id AND f.state = c.code
        AND EXISTS (SELECT 1 FROM identities j JOIN moments m ON m.identity_id = j.id AND m.kind = 'form_submitted'
                     WHERE j.user_id = i.user_id)) AS registrations
FROM wecom_channels c WHERE c.corp_id = $1 AND c.deleted_at IS NULL ORDER BY c.id DESC LIMIT 500`, corp)
	if err != nil {
		return nil, fmt.Errorf("channels: list: %w", err)
	}
	for i := range out {
		out[i].Channel = s.withLinks(out[i].Channel)
	}
	return out, nil
}

// DeleteChannel deletes the contact way in WeCom and retires the channel;
// its code stays reserved. Admins only. Errors: EFORBIDDEN, ENOTFOUND.
func (s *ChannelService) DeleteChannel(ctx context.Context, ways ContactWays, corp string, id int64, v Operator) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	var configID string
	err := s.db.GetContext(ctx, &configID, `SELECT config_id FROM wecom_channels WHERE corp_id = $1 AND id = $2 AND deleted_at IS NULL`, corp, id)
	if err != nil {
		return notFound(err, "渠道")
	}
	// 41044: already gone in WeCom (deleted there by hand); retire it here too.
	if err := ways.DeleteContactWay(ctx, configID); err != nil && !wecom.IsAPIError(err, 41044, 41043) {
		return contactWayError(err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE wecom_channels SET deleted_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("channels: delete: %w", err)
	}
	return nil
}

// WelcomeFor gives the add_external_contact handler the channel's welcome
// message (EventProcessor.Welcomes). ok is false when the state names no
// live channel or the channel has nothing to say.
func (s *ChannelService) WelcomeFor(ctx context.Context, corp, state string) (WelcomeMessage, bool, error) {
	ch, ok, err := s.ChannelByState(ctx, corp, state)
	if err != nil || !ok || (ch.WelcomeText == "" && len(ch.Links) == 0 && len(ch.TagIDs) == 0) {
		return WelcomeMessage{}, false, err
	}
	return WelcomeMessage{Text: ch.WelcomeText, Links: ch.Links, TagIDs: ch.TagIDs}, true, nil
}
