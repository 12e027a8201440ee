package services

import (
	"strings"
	"sync"

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
	if national, ok := plainMainland(s); ok {
		return mainlandVerdicts.normalize(national)
	}
	return parsePhone(s)
}

// parsePhone is NormalizePhone through libphonenumber.
func parsePhone(s string) (string, error) {
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

// Parsing with libphonenumber costs tens of microseconds of regular
// expressions per number (a form submission parsed its phone twice: it was
// the largest CPU cost of the submission path). Almost every number typed in
// China is eleven plain digits starting 1[3-9], optionally after +86, 86 or
// 0086, and for those libphonenumber's verdict (mobile or not, valid or not)
// depends only on the leading digits: its CN mobile pattern constrains at
// most the first five (1740[0-5]…), then takes any six or more digits. So the
// verdict is memoised per five-digit prefix, at most 70,000 entries, and
// TestMainlandVerdictsMatchLibphonenumber checks every prefix against the
// library, so a metadata update that constrains more digits fails the test.
const verdictPrefix = 5

type phoneVerdicts struct{ m sync.Map } // prefix → bool (a mobile number's prefix)

var mainlandVerdicts = &phoneVerdicts{}

// normalize returns the E.164 form of an 11-digit national mobile number.
// Refused prefixes go through the library again for their error (they are
// rare, and errors are not shared between callers).
func (v *phoneVerdicts) normalize(national string) (string, error) {
	prefix := national[:verdictPrefix]
	if mobile, ok := v.m.Load(prefix); ok && mobile.(bool) {
		return "+86" + national, nil
	} else if ok {
		return parsePhone(national)
	}
	e164, err := parsePhone(national)
	if err == nil && e164 != "+86"+national {
		return e164, nil // not the shape assumed above: never memoised
	}
	v.m.Store(prefix, err == nil)
	return e164, err
}

// plainMainland recognises "1[3-9]" + 9 digits, optionally after +86, 86 or
// 0086, with nothing else around; it returns the 11 national digits.
func plainMainland(s string) (string, bool) {
	for _, p := range []string{"+86", "0086", "86"} {
		if len(s) == 11+len(p) && strings.HasPrefix(s, p) {
			s = s[len(p):]
			break
		}
	}
	if len(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9' {
		return "", false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}
