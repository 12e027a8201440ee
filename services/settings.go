package services

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
)

// App modes of the WeCom app.
const (
	AppModeSelfBuilt = "self_built" // 自建应用: unionid comes with the contact
	AppModeOnBehalf  = "on_behalf"  // 代开发应用: unionid via idconvert and pending_id
)

// OA message modes (消息加解密方式).
const (
	OAModePlain  = "plain"  // 明文
	OAModeCompat = "compat" // 兼容
	OAModeSafe   = "safe"   // 安全
)

// WeComSettings are the saved connection settings, secrets opened. They never
// leave the server: pages get a SettingsView instead.
type WeComSettings struct {
	CorpID             string
	AppMode            string
	AgentID            int
	AgentSecret        string
	ContactSecret      string
	ContactsSyncSecret string
	CallbackToken      string
	CallbackAESKey     string
	OAAppID            string
	OASecret           string
	OAToken            string
	OAAESKey           string
	OAMessageMode      string
	MPAppID            string
	MPSecret           string
	// Sandbox marks settings written by demo mode.
	Sandbox   bool
	Version   int64
	UpdatedBy string
	UpdatedAt time.Time
}

// WeComConfigured reports whether the WeCom app can be called.
func (s WeComSettings) WeComConfigured() bool { return s.CorpID != "" && s.AgentSecret != "" }

// OAConfigured reports whether the Official Account can be called.
func (s WeComSettings) OAConfigured() bool { return s.OAAppID != "" && s.OASecret != "" }

// MPConfigured reports whether the mini program can be called.
func (s WeComSettings) MPConfigured() bool { return s.MPAppID != "" && s.MPSecret != "" }

// secretFields maps each secret's form/audit name to its column and its place
// in WeComSettings. The order is the page's.
var secretFields = []struct {
	name string
	get  func(*WeComSettings) *string
}{
	{"agent_secret", func(s *WeComSettings) *string { return &s.AgentSecret }},
	{"contact_secret", func(s *WeComSettings) *string { return &s.ContactSecret }},
	{"contacts_sync_secret", func(s *WeComSettings) *string { return &s.ContactsSyncSecret }},
	{"callback_token", func(s *WeComSettings) *string { return &s.CallbackToken }},
	{"callback_aes_key", func(s *WeComSettings) *string { return &s.CallbackAESKey }},
	{"oa_secret", func(s *WeComSettings) *string { return &s.OASecret }},
	{"oa_token", func(s *WeComSettings) *string { return &s.OAToken }},
	{"oa_aes_key", func(s *WeComSettings) *string { return &s.OAAESKey }},
	{"mp_secret", func(s *WeComSettings) *string { return &s.MPSecret }},
}

// SettingsView is what a page may show: plain fields and, for each secret,
// only whether it is set.
type SettingsView struct {
	CorpID, AppMode        string
	AgentID                int
	OAAppID, OAMessageMode string
	MPAppID                string
	SecretSet              map[string]bool
	Sandbox                bool
	Version                int64
	UpdatedBy              string
	UpdatedAt              time.Time
}

// View hides the secrets.
func (s WeComSettings) View() SettingsView {
	v := SettingsView{CorpID: s.CorpID, AppMode: s.AppMode, AgentID: s.AgentID, OAAppID: s.OAAppID,
		OAMessageMode: s.OAMessageMode, MPAppID: s.MPAppID, SecretSet: map[string]bool{}, Sandbox: s.Sandbox,
		Version: s.Version, UpdatedBy: s.UpdatedBy, UpdatedAt: s.UpdatedAt}
	for _, f := range secretFields {
		v.SecretSet[f.name] = *f.get(&s) != ""
	}
	return v
}

// SettingsUpdate is a save of the settings page. Plain fields replace the
// saved ones; a secret left empty keeps the saved value (the page never shows
// secrets, so an empty box means "unchanged"); Clear lists secrets to remove.
type SettingsUpdate struct {
	CorpID, AppMode, AgentID string
	OAAppID, OAMessageMode   string
	MPAppID                  string
	Secrets                  map[string]string // by secretFields name
	Clear                    []string
}

// Actor is who does something, for the audit log. Role is a console
// user's role (empty for the system): the admin-only services check it.
type Actor struct{ Kind, ID, IP, Role string }

// requireAdmin returns EFORBIDDEN unless the actor is a console admin.
func (a Actor) requireAdmin() error {
	if a.Role != RoleAdmin {
		return Errorf(EFORBIDDEN, "只有管理员可以执行此操作")
	}
	return nil
}

// SettingsService keeps the connection settings, secrets sealed.
type SettingsService struct {
	db    *sqlx.DB
	box   *pii.Box
	audit *AuditService
}

// NewSettingsService returns the service.
func NewSettingsService(db *sqlx.DB, box *pii.Box, audit *AuditService) *SettingsService {
	return &SettingsService{db: db, box: box, audit: audit}
}

type settingsRow struct {
	CorpID        string            `db:"corp_id"`
	AppMode       string            `db:"app_mode"`
	AgentID       int               `db:"agent_id"`
	OAAppID       string            `db:"oa_app_id"`
	OAMessageMode string            `db:"oa_message_mode"`
	MPAppID       string            `db:"mp_app_id"`
	Sandbox       bool              `db:"sandbox"`
	Version       int64             `db:"version"`
	UpdatedBy     string            `db:"updated_by"`
	UpdatedAt     time.Time         `db:"updated_at"`
	Sealed        map[string][]byte `db:"-"`
}

const selectSettings = `SELECT corp_id, app_mode, agent_id, oa_app_id, oa_message_mode, mp_app_id, sandbox, version,
	updated_by, updated_at, agent_secret, contact_secret, contacts_sync_secret, callback_token, callback_aes_key,
	oa_secret, oa_token, oa_aes_key, mp_secret FROM wecom_settings`

// Settings returns the saved settings with secrets opened.
func (s *SettingsService) Settings(ctx context.Context) (WeComSettings, error) {
	return s.read(ctx, s.db, "")
}

func (s *SettingsService) read(ctx context.Context, q sqlx.QueryerContext, suffix string) (WeComSettings, error) {
	var r settingsRow
	sealed := make([][]byte, len(secretFields))
	dst := []any{&r.CorpID, &r.AppMode, &r.AgentID, &r.OAAppID, &r.OAMessageMode, &r.MPAppID, &r.Sandbox,
		&r.Version, &r.UpdatedBy, &r.UpdatedAt}
	for i := range sealed {
		dst = append(dst, &sealed[i])
	}
	if err := q.QueryRowxContext(ctx, selectSettings+suffix).Scan(dst...); err != nil {
		return WeComSettings{}, fmt.Errorf("settings: read: %w", err)
	}
	out := WeComSettings{CorpID: r.CorpID, AppMode: r.AppMode, AgentID: r.AgentID, OAAppID: r.OAAppID,
		OAMessageMode: r.OAMessageMode, MPAppID: r.MPAppID, Sandbox: r.Sandbox, Version: r.Version,
		UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt}
	for i, f := range secretFields {
		if sealed[i] == nil {
			continue
		}
		v, err := s.box.OpenString("wecom_settings."+f.name, sealed[i])
		if err != nil {
			return WeComSettings{}, fmt.Errorf("settings: open %s: %w", f.name, err)
		}
		*f.get(&out) = v
	}
	return out, nil
}

// SettingsVersion returns the version of the saved settings; it changes with
// every save. It is cheap: the WeChat client provider polls it.
func (s *SettingsService) SettingsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.GetContext(ctx, &v, `SELECT version FROM wecom_settings`); err != nil {
		return 0, fmt.Errorf("settings: version: %w", err)
	}
	return v, nil
}

// UpdateSettings validates and saves a settings page, and audits which
// fields changed (never their values). Only an admin may: the settings
// hold the secrets of every connection. Errors: EFORBIDDEN, EINVALID.
func (s *SettingsService) UpdateSettings(ctx context.Context, in SettingsUpdate, by Actor) (WeComSettings, error) {
	if err := by.requireAdmin(); err != nil {
		return WeComSettings{}, err
	}
	var out WeComSettings
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := s.read(ctx, tx, " FOR UPDATE")
		if err != nil {
			return err
		}
		next, changed, err := applyUpdate(cur, in)
		if err != nil {
			return err
		}
		next.Sandbox = false // saved by a person: no longer the demo's settings
		if out, err = s.write(ctx, tx, next, by.Kind+":"+by.ID); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP,
			Action: "settings_changed", TargetKind: "wecom_settings", TargetID: strconv.FormatInt(out.Version, 10),
			Detail: map[string]any{"changed": changed}})
	})
	return out, err
}

// SaveSandboxSettings stores settings generated by demo mode (sandbox set),
// audited as the system.
func (s *SettingsService) SaveSandboxSettings(ctx context.Context, in WeComSettings) (WeComSettings, error) {
	var out WeComSettings
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := s.read(ctx, tx, " FOR UPDATE"); err != nil {
			return err
		}
		in.Sandbox = true
		var err error
		if out, err = s.write(ctx, tx, in, "system:demo"); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: "system", ActorID: "demo", Action: "settings_changed",
			TargetKind: "wecom_settings", TargetID: strconv.FormatInt(out.Version, 10),
			Detail: map[string]any{"sandbox": true}})
	})
	return out, err
}

func (s *SettingsService) write(ctx context.Context, tx *sqlx.Tx, v WeComSettings, by string) (WeComSettings, error) {
	args := []any{v.CorpID, v.AppMode, v.AgentID, v.OAAppID, v.OAMessageMode, v.MPAppID, v.Sandbox, by}
	sets := []string{"corp_id = $1", "app_mode = $2", "agent_id = $3", "oa_app_id = $4", "oa_message_mode = $5",
		"mp_app_id = $6", "sandbox = $7", "updated_by = $8"}
	for _, f := range secretFields {
		var sealed []byte
		if p := *f.get(&v); p != "" {
			sealed = s.box.SealString("wecom_settings."+f.name, p)
		}
		args = append(args, sealed)
		sets = append(sets, fmt.Sprintf("%s = $%d", f.name, len(args)))
	}
	q := `UPDATE wecom_settings SET ` + strings.Join(sets, ", ") + `, version = version + 1, updated_at = now()`
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return WeComSettings{}, fmt.Errorf("settings: write: %w", err)
	}
	return s.read(ctx, tx, "")
}

var (
	reCorpID  = regexp.MustCompile(`^w[wx][0-9a-zA-Z]{6,32}$`)
	reAppID   = regexp.MustCompile(`^wx[0-9a-zA-Z]{14,30}$`)
	reToken   = regexp.MustCompile(`^[0-9a-zA-Z]{3,32}$`)
	reAESKey  = regexp.MustCompile(`^[0-9a-zA-Z]{43}$`)
	reSecret  = regexp.MustCompile(`^[\x21-\x7e]{8,128}$`)
	reAgentID = regexp.MustCompile(`^[0-9]{1,10}$`)
)

// applyUpdate checks in against the rules and returns the new settings and
// the names of the fields that changed.
func applyUpdate(cur WeComSettings, in SettingsUpdate) (WeComSettings, []string, error) {
	next := cur
	fields := map[string]string{}
	var changed []string
	plain := func(name string, dst *string, v string, ok bool, msg string) {
		v = strings.TrimSpace(v)
		if v != "" && !ok {
			fields[name] = msg
			return
		}
		if v != *dst {
			*dst = v
			changed = append(changed, name)
		}
	}
	in.CorpID, in.OAAppID, in.MPAppID = strings.TrimSpace(in.CorpID), strings.TrimSpace(in.OAAppID), strings.TrimSpace(in.MPAppID)
	plain("corp_id", &next.CorpID, in.CorpID, reCorpID.MatchString(in.CorpID), "企业ID以 ww 或 wx 开头，只含字母和数字")
	plain("oa_app_id", &next.OAAppID, in.OAAppID, reAppID.MatchString(in.OAAppID), "AppID 以 wx 开头，16–32 位字母数字")
	plain("mp_app_id", &next.MPAppID, in.MPAppID, reAppID.MatchString(in.MPAppID), "AppID 以 wx 开头，16–32 位字母数字")
	applyChoices(&next, in, fields, &changed)
	applySecrets(&next, in, fields, &changed)
	if next.CorpID != "" && next.AgentSecret == "" && fields["agent_secret"] == "" {
		fields["agent_secret"] = "填写企业ID后，应用 Secret 必填"
	}
	if next.OAAppID != "" && next.OASecret == "" && fields["oa_secret"] == "" {
		fields["oa_secret"] = "填写公众号 AppID 后，AppSecret 必填"
	}
	if len(fields) > 0 {
		return cur, nil, Invalid("请修正标出的字段", fields)
	}
	return next, changed, nil
}

func applyChoices(next *WeComSettings, in SettingsUpdate, fields map[string]string, changed *[]string) {
	if in.AppMode != AppModeSelfBuilt && in.AppMode != AppModeOnBehalf {
		fields["app_mode"] = "请选择自建应用或代开发应用"
	} else if in.AppMode != next.AppMode {
		next.AppMode = in.AppMode
		*changed = append(*changed, "app_mode")
	}
	switch in.OAMessageMode {
	case OAModePlain, OAModeCompat, OAModeSafe:
		if in.OAMessageMode != next.OAMessageMode {
			next.OAMessageMode = in.OAMessageMode
			*changed = append(*changed, "oa_message_mode")
		}
	default:
		fields["oa_message_mode"] = "请选择消息加解密方式"
	}
	agent := strings.TrimSpace(in.AgentID)
	id := 0
	if agent != "" {
		if !reAgentID.MatchString(agent) {
			fields["agent_id"] = "AgentId 是数字"
			return
		}
		id, _ = strconv.Atoi(agent)
	}
	if id != next.AgentID {
		next.AgentID = id
		*changed = append(*changed, "agent_id")
	}
}

func applySecrets(next *WeComSettings, in SettingsUpdate, fields map[string]string, changed *[]string) {
	for _, f := range secretFields {
		dst := f.get(next)
		if v := strings.TrimSpace(in.Secrets[f.name]); v != "" {
			if msg := checkSecret(f.name, v); msg != "" {
				fields[f.name] = msg
				continue
			}
			if v != *dst {
				*dst = v
				*changed = append(*changed, f.name)
			}
			continue
		}
		for _, c := range in.Clear {
			if c == f.name && *dst != "" {
				*dst = ""
				*changed = append(*changed, f.name)
			}
		}
	}
}

func checkSecret(name, v string) string {
	switch name {
	case "callback_aes_key", "oa_aes_key":
		if !reAESKey.MatchString(v) {
			return "EncodingAESKey 是 43 位字母和数字"
		}
	case "callback_token", "oa_token":
		if !reToken.MatchString(v) {
			return "Token 为 3–32 位字母和数字"
		}
	default:
		if !reSecret.MatchString(v) {
			return "Secret 格式不正确（8–128 个可见字符）"
		}
	}
	return ""
}

// GenerateAESKey returns a random EncodingAESKey (43 letters and digits).
func GenerateAESKey() string { return randomAlnum(43) }

// GenerateToken returns a random callback Token (32 letters and digits).
func GenerateToken() string { return randomAlnum(32) }

func randomAlnum(n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		// 256 % 62 != 0 makes a tiny bias, irrelevant for a shared secret of 43 chars.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
