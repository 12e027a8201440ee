package services

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone parses a mobile number as typed in China (full-width digits,
// spaces, dashes, +86/0086 prefixes are fine) and returns it in E.164, e.g.
// "+8613912345678". Numbers that are not mobile numbers are refused with
// EINVALID, field "phone".
func NormalizePhone(in string) (string, error) {
	s := strings.TrimSpace(in)
	if s == "" {
		return "", Invalid("请填写手机号", map[string]string{"phone": "请填写手机号"})
	}
	num, err := phonenumbers.Parse(s, "CN")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", Invalid("手机号格式不正确", map[string]string{"phone": "手机号格式不正确"})
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", Invalid("请填写手机号", map[string]string{"phone": "请填写手机号（不支持座机）"})
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// MaskPhone hides the middle of a phone number for display:
// "+8613912345678" → "139****5678". Numbers outside China keep their country
// code. It never returns more than the first three and last four digits.
func MaskPhone(e164 string) string {
	d := strings.TrimPrefix(e164, "+86")
	prefix := ""
	if strings.HasPrefix(d, "+") {
		prefix, d = "+", d[1:]
	}
	if len(d) < 8 {
		return strings.Repeat("*", len(d))
	}
	// At most the first three and the last four digits show, and always at
	// least four are masked: a short foreign number gives up head digits.
	head := min(3, len(d)-8)
	return prefix + d[:head] + strings.Repeat("*", len(d)-head-4) + d[len(d)-4:]
}

// junkPhone reports whether an E.164 number is an obvious test value: one
// digit repeated, a long run of one digit, or the 138-00-138-000 pattern.
func junkPhone(e164 string) bool {
	d := strings.TrimPrefix(e164, "+86")
	if len(d) != 11 {
		return false
	}
	run, best := 1, 1
	for i := 1; i < len(d); i++ {
		if d[i] == d[i-1] {
			run++
			best = max(best, run)
		} else {
			run = 1
		}
	}
	if best >= 8 {
		return true
	}
	return d[3:5] == "00" && d[5:8] == d[0:3] && d[8:] == "000"
}
