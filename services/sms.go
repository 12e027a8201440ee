package services

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
)

// SMSSender delivers a verification code to a phone. A real provider
// (Aliyun, Tencent Cloud SMS…) implements it later; its errors are shown to
// nobody (the person gets "try later").
type SMSSender interface {
	SendCode(ctx context.Context, e164, code string, ttl time.Duration) error
}

// SMSMessage is one code the sandbox sender "delivered".
type SMSMessage struct {
	Phone string
	Code  string
	At    time.Time
}

// SandboxSMS is the development sender: it keeps the last messages in
// memory (for the sandbox console and tests) and optionally hands each one
// to Forward (e.g. the sandbox's outbox). It never sends anything.
type SandboxSMS struct {
	mu      sync.Mutex
	msgs    []SMSMessage
	Forward func(SMSMessage)
}

// maxSandboxSMS bounds the kept messages.
const maxSandboxSMS = 200

// SendCode records the message.
func (s *SandboxSMS) SendCode(_ context.Context, e164, code string, _ time.Duration) error {
	m := SMSMessage{Phone: e164, Code: code, At: time.Now()}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	if len(s.msgs) > maxSandboxSMS {
		s.msgs = s.msgs[len(s.msgs)-maxSandboxSMS:]
	}
	fwd := s.Forward
	s.mu.Unlock()
	if fwd != nil {
		fwd(m)
	}
	return nil
}

// Messages returns the recorded messages, oldest first.
func (s *SandboxSMS) Messages() []SMSMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMSMessage(nil), s.msgs...)
}

// LastCode returns the newest code sent to e164, or "".
func (s *SandboxSMS) LastCode(e164 string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if s.msgs[i].Phone == e164 {
			return s.msgs[i].Code
		}
	}
	return ""
}

// SMSConfig holds the code rules; zero values take the defaults.
type SMSConfig struct {
	TTL         time.Duration // code lifetime, default 5 minutes
	Cooldown    time.Duration // between two sends to one phone, default 60 s
	MaxAttempts int           // wrong codes before a new one is needed, default 5
	MaxPerHour  int           // sends per phone and purpose per hour, default 5
}

// SMSService issues and checks verification codes. Only an HMAC of a code
// is stored; a code is single use.
type SMSService struct {
	db     *sqlx.DB
	box    *pii.Box
	sender SMSSender
	cfg    SMSConfig
	now    func() time.Time
}

// NewSMSService returns the service.
func NewSMSService(db *sqlx.DB, box *pii.Box, sender SMSSender, cfg SMSConfig) *SMSService {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MaxPerHour <= 0 {
		cfg.MaxPerHour = 5
	}
	return &SMSService{db: db, box: box, sender: sender, cfg: cfg, now: time.Now}
}

func (s *SMSService) codeHash(phoneKey, purpose, code string) []byte {
	return s.box.BlindIndex("sms_code", purpose+"\x00"+phoneKey+"\x00"+code)
}

// SendCode sends a new 6-digit code for purpose (e.g. "form:12") to a
// mainland mobile number. Errors: EINVALID (phone), ERATELIMIT (cool-down,
// hourly limit), EUNAVAILABLE (the sender failed).
func (s *SMSService) SendCode(ctx context.Context, phone, purpose string) error {
	e164, err := MainlandMobile(phone)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%x", s.box.BlindIndex("phone", e164))
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	code := fmt.Sprintf("%06d", n.Int64())
	now := s.now()
	var sent time.Time
	err = s.db.GetContext(ctx, &sent, `INSERT INTO sms_codes AS c (phone_key, purpose, code_hash, sent_at, expires_at, window_at)
VALUES ($1, $2, $3, $4, $5, $4)
ON CONFLICT (phone_key, purpose) DO UPDATE SET code_hash = EXCLUDED.code_hash, sent_at = EXCLUDED.sent_at,
  expires_at = EXCLUDED.expires_at, attempts = 0,
  sends = CASE WHEN c.window_at <= $4 - interval '1 hour' THEN 1 ELSE c.sends + 1 END,
  window_at = CASE WHEN c.window_at <= $4 - interval '1 hour' THEN $4 ELSE c.window_at END
WHERE c.sent_at <= $4 - make_interval(secs => $6) AND (c.window_at <= $4 - interval '1 hour' OR c.sends < $7)
RETURNING sent_at`, key, purpose, s.codeHash(key, purpose, code), now, now.Add(s.cfg.TTL),
		s.cfg.Cooldown.Seconds(), s.cfg.MaxPerHour)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ERATELIMIT, "验证码发送太频繁，请稍后再试")
	}
	if err != nil {
		return fmt.Errorf("sms: save code: %w", err)
	}
	if err := s.sender.SendCode(ctx, e164, code, s.cfg.TTL); err != nil {
		return &Error{Code: EUNAVAILABLE, Message: "短信发送失败，请稍后再试"}
	}
	return nil
}

// Verify checks a code for the phone (by blind index) and purpose and
// consumes it. Errors: EINVALID, field "sms_code".
func (s *SMSService) Verify(ctx context.Context, phoneKey, purpose, code string) error {
	bad := func(msg string) error { return Invalid(msg, map[string]string{"sms_code": msg}) }
	var row struct {
		Hash     []byte    `db:"code_hash"`
		Expires  time.Time `db:"expires_at"`
		Attempts int       `db:"attempts"`
	}
	err := s.db.GetContext(ctx, &row, `UPDATE sms_codes SET attempts = attempts + 1
WHERE phone_key = $1 AND purpose = $2 RETURNING code_hash, expires_at, attempts`, phoneKey, purpose)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return bad("请先获取短信验证码")
	case err != nil:
		return fmt.Errorf("sms: verify: %w", err)
	case row.Attempts > s.cfg.MaxAttempts:
		return bad("验证码错误次数过多，请重新获取")
	case !s.now().Before(row.Expires):
		return bad("验证码已过期，请重新获取")
	case !hmac.Equal(row.Hash, s.codeHash(phoneKey, purpose, code)):
		return bad("验证码不正确")
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sms_codes WHERE phone_key = $1 AND purpose = $2`, phoneKey, purpose); err != nil {
		return fmt.Errorf("sms: consume: %w", err)
	}
	return nil
}

// verifySMS checks the SMS code of a submission when its form asks for one.
func (s *SubmissionService) verifySMS(ctx context.Context, c *checked, in SubmissionInput) error {
	if !c.form.SMSVerify || c.verified {
		return nil
	}
	if s.sms == nil {
		return Errorf(EUNAVAILABLE, "短信验证暂不可用，请稍后再试")
	}
	if err := s.sms.Verify(ctx, c.phoneKey, SMSPurpose(c.form), in.SMSCode); err != nil {
		return err
	}
	c.verified = true
	return nil
}

// SMSPurpose is the purpose of a form's verification codes.
func SMSPurpose(f Form) string { return fmt.Sprintf("form:%d", f.ID) }
