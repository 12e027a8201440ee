package services

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/pii"
)

// Submission sources.
const (
	SourceWeb    = "web"    // a browser outside WeChat
	SourceWeChat = "wechat" // the WeChat browser, with Official Account OAuth
	SourceMP     = "mp"     // the mini program API
)

// SubmissionInput is one answer to a form, as the handler parsed it. The
// WeChat ids come from the visitor's signed session (OAuth) or the mini
// program session, never from the request body.
type SubmissionInput struct {
	Answers        map[string][]string // by field key
	Phone          string
	Consent        bool
	ConsentVersion int    // the version shown on the page; 0 = current
	Token          string // the page's one-time token or the API's request id: the dedupe key
	Attribution    string // the raw signed token ("a" parameter), may be empty or bad
	UTM            map[string]string
	OAAppID        string
	OAOpenID       string
	UnionID        string
	MPAppID        string
	MPOpenID       string
	// PhoneVerified is set by the mini program API after getuserphonenumber.
	PhoneVerified bool
	SMSCode       string
	Source        string
	IP            string
}

// Submission is a stored answer (answers opened only where asked for).
type Submission struct {
	ID             int64          `db:"id"`
	FormID         int64          `db:"form_id"`
	UserID         int64          `db:"user_id"`
	PublicID       string         `db:"public_id"`
	PhoneSealed    []byte         `db:"phone"`
	PhoneVerified  bool           `db:"phone_verified"`
	AnswersSealed  []byte         `db:"answers"`
	ConsentVersion int            `db:"consent_version"`
	ConsentedAt    time.Time      `db:"consented_at"`
	Channel        string         `db:"channel"`
	EmployeeUserID string         `db:"employee_userid"`
	ExternalUserID string         `db:"external_userid"`
	UTMJSON        []byte         `db:"utm"`
	OAOpenID       string         `db:"oa_openid"`
	UnionID        string         `db:"unionid"`
	MPOpenID       string         `db:"mp_openid"`
	Source         string         `db:"source"`
	IP             string         `db:"ip"`
	Risk           pq.StringArray `db:"risk"`
	CreatedAt      time.Time      `db:"created_at"`
	// Duplicate is true when the token had already been used: nothing new
	// was stored and this is the first submission.
	Duplicate bool `db:"-"`
}

// SubmissionConfig tunes the service.
type SubmissionConfig struct {
	// PhoneLimit and PhoneBurst bound submissions per phone (one per
	// PhoneLimit after a burst); zero values mean 1 per 2 minutes, burst 5.
	PhoneLimit time.Duration
	PhoneBurst int
	// BaselineInsert replaces the identity link by a plain insert of a user
	// and the submission. Benchmarks only: it measures what the link costs.
	BaselineInsert bool
}

// SubmissionService validates, links and stores form submissions.
type SubmissionService struct {
	db     *sqlx.DB
	box    *pii.Box
	ids    *IdentityService
	forms  *FormService
	attr   *Attributor
	sms    *SMSService
	audit  *AuditService
	phones *keyedLimiter
	stmts  stmtCache
	cfg    SubmissionConfig
	now    func() time.Time
}

// SubmissionDeps are the collaborators of the SubmissionService. SMS may be
// nil when no sender is configured (forms asking for SMS then refuse).
type SubmissionDeps struct {
	DB          *sqlx.DB
	PII         *pii.Box
	Identities  *IdentityService
	Forms       *FormService
	Attribution *Attributor
	SMS         *SMSService
	Audit       *AuditService
}

// NewSubmissionService returns the service.
func NewSubmissionService(d SubmissionDeps, cfg SubmissionConfig) *SubmissionService {
	if cfg.PhoneLimit <= 0 {
		cfg.PhoneLimit = 2 * time.Minute
	}
	if cfg.PhoneBurst <= 0 {
		cfg.PhoneBurst = 5
	}
	return &SubmissionService{db: d.DB, box: d.PII, ids: d.Identities, forms: d.Forms, attr: d.Attribution,
		sms: d.SMS, audit: d.Audit, phones: newKeyedLimiter(cfg.PhoneLimit, cfg.PhoneBurst), cfg: cfg, now: time.Now}
}

// MainlandMobile normalises a phone number and accepts only mainland China
// mobile numbers (E.164 +86…). Errors: EINVALID, field "phone".
func MainlandMobile(in string) (string, error) {
	e164, err := NormalizePhone(in)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(e164, "+861") {
		return "", Invalid("请填写中国大陆手机号", map[string]string{"phone": "请填写中国大陆手机号"})
	}
	return e164, nil
}

// checked is a validated submission, ready for the statement.
type checked struct {
	form     Form
	e164     string
	phoneKey string
	answers  map[string]any
	attr     Attribution
	utm      map[string]string
	verified bool
	consentV int
}

// Submit validates and stores a submission for the published form slug: it
// links the person's identities (WeChat ids, phone, the attributed chat's
// external_userid) and records the form_submitted moment in the same
// statement. A token seen before returns the first submission, Duplicate set.
// Errors: ENOTFOUND (form), EINVALID (fields), ERATELIMIT (phone).
func (s *SubmissionService) Submit(ctx context.Context, slug string, in SubmissionInput) (Submission, error) {
	f, err := s.forms.FindPublishedForm(ctx, slug)
	if err != nil {
		return Submission{}, err
	}
	c, err := s.check(ctx, f, in)
	if err != nil {
		return Submission{}, err
	}
	if !s.phones.Allow(c.phoneKey) {
		return s.orDuplicate(ctx, f.ID, in.Token, Errorf(ERATELIMIT, "该手机号提交太频繁，请稍后再试"))
	}
	if err := s.verifySMS(ctx, &c, in); err != nil {
		return s.orDuplicate(ctx, f.ID, in.Token, err)
	}
	sub, err := s.insert(ctx, c, in)
	if err != nil {
		return Submission{}, err
	}
	if sub.ID == 0 { // the token was used before: a double click, a refresh, a retry
		return s.findByToken(ctx, f.ID, in.Token)
	}
	return sub, nil
}

// orDuplicate answers a refused retry with the submission its token already
// made (the first POST went through), else with err. Only refusals pay for
// this look-up; the normal path learns about duplicates from the insert.
func (s *SubmissionService) orDuplicate(ctx context.Context, formID int64, token string, err error) (Submission, error) {
	if dup, ferr := s.findByToken(ctx, formID, token); ferr == nil {
		return dup, nil
	}
	return Submission{}, err
}

func (s *SubmissionService) check(ctx context.Context, f Form, in SubmissionInput) (checked, error) {
	bad := map[string]string{}
	c := checked{form: f, verified: in.PhoneVerified}
	c.answers = checkAnswers(f.Fields, in.Answers, bad)
	e164, err := MainlandMobile(in.Phone)
	if err != nil {
		bad["phone"] = ErrorFields(err)["phone"]
	} else {
		c.e164 = e164
		c.phoneKey, _ = s.ids.PhoneKey(e164)
	}
	if !in.Consent {
		bad["consent"] = "请阅读并同意隐私政策"
	}
	if !validToken(in.Token) {
		bad["form"] = "页面已过期，请刷新后重新提交"
	}
	if f.RequireWeChat && in.UnionID == "" {
		bad["form"] = "此表单需要在微信中打开并授权后提交"
	}
	if f.SMSVerify && !in.PhoneVerified && s.sms != nil && strings.TrimSpace(in.SMSCode) == "" {
		bad["sms_code"] = "请填写短信验证码"
	}
	if len(bad) > 0 {
		return c, Invalid("请检查填写的内容", bad)
	}
	c.consentV = f.ConsentVersion
	if in.ConsentVersion > 0 && in.ConsentVersion < f.ConsentVersion {
		c.consentV = in.ConsentVersion // they agreed to the text they were shown
	}
	c.attr, _ = s.attr.Verify(in.Attribution, f.Slug)
	c.utm = CleanUTM(in.UTM)
	return c, nil
}

// validToken accepts 8–100 characters of [A-Za-z0-9_-].
func validToken(t string) bool {
	if len(t) < 8 || len(t) > 100 {
		return false
	}
	for _, r := range t {
		if !(r == '-' || r == '_' || r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// checkAnswers validates answers against the fields and returns what is
// stored: strings for text fields, string slices for multiple choice.
// Unknown keys are dropped; text is kept as typed (trimmed), never escaped.
func checkAnswers(fields []Field, in map[string][]string, bad map[string]string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		vals := in[f.Key]
		if f.Kind == FieldMulti {
			picked := pickOptions(f, vals, bad)
			if len(picked) > 0 {
				out[f.Key] = picked
			} else if f.Required {
				bad[f.Key] = "请至少选择一项"
			}
			continue
		}
		v := ""
		if len(vals) > 0 {
			v = strings.TrimSpace(vals[0])
		}
		if msg := checkAnswer(f, v); msg != "" {
			bad[f.Key] = msg
			continue
		}
		if v != "" {
			out[f.Key] = v
		}
	}
	return out
}

func checkAnswer(f Field, v string) string {
	if v == "" {
		if f.Required {
			return "必填"
		}
		return ""
	}
	limit := maxAnswerLen
	switch f.Kind {
	case FieldText:
		limit = maxCustomLen
	case FieldEmail:
		limit = maxEmailLen
		if at := strings.LastIndexByte(v, '@'); at < 1 || at == len(v)-1 || strings.ContainsAny(v, " \t\r\n<>") {
			return "邮箱格式不正确"
		}
	case FieldSingle:
		for _, o := range f.Options {
			if o == v {
				return ""
			}
		}
		return "请从选项中选择"
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > limit {
		return fmt.Sprintf("最多 %d 个字", limit)
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0 {
		return "包含无效字符"
	}
	return ""
}

func pickOptions(f Field, vals []string, bad map[string]string) []string {
	var out []string
	for _, v := range vals {
		found := false
		for _, o := range f.Options {
			if o == v {
				found = true
				break
			}
		}
		if !found {
			bad[f.Key] = "请从选项中选择"
			return nil
		}
		out = append(out, v)
	}
	return out
}

// newPublicID returns 22 random URL-safe characters.
func newPublicID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const submissionColumns = `id, form_id, user_id, public_id, phone, phone_verified, answers, consent_version,
consented_at, channel, employee_userid, external_userid, utm, oa_openid, unionid, mp_openid, source, ip, risk, created_at`

func (s *SubmissionService) findByToken(ctx context.Context, formID int64, token string) (Submission, error) {
	var sub Submission
	err := s.db.GetContext(ctx, &sub, `SELECT `+submissionColumns+` FROM form_submissions
WHERE form_id = $1 AND dedupe_key = $2`, formID, token)
	if errors.Is(err, sql.ErrNoRows) {
		return Submission{}, Errorf(ENOTFOUND, "提交记录不存在")
	}
	if err != nil {
		return Submission{}, fmt.Errorf("submissions: find: %w", err)
	}
	sub.Duplicate = true
	return sub, nil
}

// FindSubmission returns a submission of the form by its public id.
// Errors: ENOTFOUND.
func (s *SubmissionService) FindSubmission(ctx context.Context, formID int64, publicID string) (Submission, error) {
	var sub Submission
	if len(publicID) != 22 {
		return Submission{}, Errorf(ENOTFOUND, "提交记录不存在")
	}
	err := s.db.GetContext(ctx, &sub, `SELECT `+submissionColumns+` FROM form_submissions
WHERE form_id = $1 AND public_id = $2`, formID, publicID)
	return sub, notFound(err, "提交记录")
}

// OpenAnswers decrypts a submission's answers and phone.
func (s *SubmissionService) OpenAnswers(sub Submission) (map[string]any, string, error) {
	raw, err := s.box.Open("form_submissions.answers", sub.AnswersSealed)
	if err != nil {
		return nil, "", fmt.Errorf("submissions: open answers %d: %w", sub.ID, err)
	}
	var answers map[string]any
	if err := json.Unmarshal(raw, &answers); err != nil {
		return nil, "", fmt.Errorf("submissions: answers %d: %w", sub.ID, err)
	}
	phone, err := s.box.OpenString("form_submissions.phone", sub.PhoneSealed)
	if err != nil {
		return nil, "", fmt.Errorf("submissions: open phone %d: %w", sub.ID, err)
	}
	return answers, phone, nil
}

// MomentAnswers opens the answers sealed in a form_submitted moment's detail
// (for the sidebar). Errors: EINVALID when the detail holds none.
func (s *SubmissionService) MomentAnswers(detail json.RawMessage) (map[string]any, error) {
	var d struct {
		Sealed []byte `json:"answers_sealed"`
	}
	if err := json.Unmarshal(detail, &d); err != nil || len(d.Sealed) == 0 {
		return nil, Errorf(EINVALID, "该动态没有表单内容")
	}
	raw, err := s.box.Open(momentAnswersColumn, d.Sealed)
	if err != nil {
		return nil, fmt.Errorf("submissions: open moment answers: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("submissions: moment answers: %w", err)
	}
	return out, nil
}

const momentAnswersColumn = "moments.detail.answers"
