package wecom

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	logcontract "github.com/ArtisanCloud/PowerLibs/v3/logger/contract"
)

// logDriver is the SDK's Log.Driver. Without one the SDK builds a zap logger
// that creates ./wechat/info.log and ./wechat/error.log and, at info level,
// writes request URLs (corpsecret, access_token) into them. Everything goes to
// slog at Debug, whatever level the SDK asked for, after redaction: the SDK's
// "info" is noise for us, and its errors are returned to the caller anyway.
//
// WithContext returns a copy and never mutates the receiver, so one driver is
// safe to share between goroutines.
type logDriver struct {
	log *slog.Logger
	ctx context.Context
}

var _ logcontract.LoggerInterface = (*logDriver)(nil)

func newLogDriver(log *slog.Logger) *logDriver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &logDriver{log: log.With("component", "powerwechat"), ctx: context.Background()}
}

var (
	// key=value in URLs and form bodies.
	redactQuery = regexp.MustCompile(`(?i)\b(access_token|corpsecret|secret|js_code|code|session_key|refresh_token|ticket|encoding_aes_key|aeskey)=([^&\s"']*)`)
	// "key":"value" in JSON bodies.
	redactJSON = regexp.MustCompile(`(?i)"(access_token|corpsecret|secret|js_code|code|session_key|refresh_token|ticket|phoneNumber|purePhoneNumber|mobile|remark_mobiles)"\s*:\s*("[^"]*"|\[[^\]]*\])`)
	// Mainland mobile numbers anywhere (with or without +86).
	redactPhone = regexp.MustCompile(`(\+?86)?1[3-9]\d{9}`)
)

// redact removes secrets, tokens, codes and phone numbers from s.
func redact(s string) string {
	s = redactQuery.ReplaceAllString(s, "$1=REDACTED")
	s = redactJSON.ReplaceAllString(s, `"$1":"REDACTED"`)
	s = redactPhone.ReplaceAllString(s, "PHONE")
	return s
}

func (d *logDriver) emit(level, msg string, v []any) {
	var b strings.Builder
	b.WriteString(msg)
	for _, x := range v {
		b.WriteByte(' ')
		fmt.Fprint(&b, x)
	}
	d.log.DebugContext(d.ctx, redact(b.String()), "sdk_level", level)
}

func (d *logDriver) emitf(level, format string, args []any) {
	d.log.DebugContext(d.ctx, redact(fmt.Sprintf(format, args...)), "sdk_level", level)
}

func (d *logDriver) Debug(msg string, v ...any) { d.emit("debug", msg, v) }
func (d *logDriver) Info(msg string, v ...any)  { d.emit("info", msg, v) }
func (d *logDriver) Warn(msg string, v ...any)  { d.emit("warn", msg, v) }
func (d *logDriver) Error(msg string, v ...any) { d.emit("error", msg, v) }

// Panic and Fatal only log: a library must not take the process down.
func (d *logDriver) Panic(msg string, v ...any) { d.emit("panic", msg, v) }
func (d *logDriver) Fatal(msg string, v ...any) { d.emit("fatal", msg, v) }

func (d *logDriver) DebugF(format string, args ...any) { d.emitf("debug", format, args) }
func (d *logDriver) InfoF(format string, args ...any)  { d.emitf("info", format, args) }
func (d *logDriver) WarnF(format string, args ...any)  { d.emitf("warn", format, args) }
func (d *logDriver) ErrorF(format string, args ...any) { d.emitf("error", format, args) }
func (d *logDriver) PanicF(format string, args ...any) { d.emitf("panic", format, args) }
func (d *logDriver) FatalF(format string, args ...any) { d.emitf("fatal", format, args) }

// WithContext implements the SDK logger interface.
func (d *logDriver) WithContext(ctx context.Context) logcontract.LoggerInterface {
	if ctx == nil {
		ctx = context.Background()
	}
	return &logDriver{log: d.log, ctx: ctx}
}
