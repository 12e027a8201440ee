package services

import (
	"strings"
	"testing"
)

// FuzzNormalizePhone checks that any input either fails with EINVALID or
// yields a stable E.164 number whose mask hides the middle digits.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"13912345678", "+86 139 1234 5678", "0086-139-1234-5678", "１３９１２３４５６７８",
		"12345", "+1 415 555 2671", "", "   ", "+", "+86", "139123456789999", "tel:+8613912345678", "１３８-００１３-８０００", "+8617405123456", "17406123456", "008614512345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizePhone(in)
		if s := strings.TrimSpace(in); s != "" {
			// the memoised fast path agrees with libphonenumber
			if lib, libErr := parsePhone(s); lib != out || (libErr == nil) != (err == nil) {
				t.Fatalf("%q: NormalizePhone %q, %v; libphonenumber %q, %v", in, out, err, lib, libErr)
			}
		}
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("%q: error code %s", in, ErrorCode(err))
			}
			return
		}
		if !strings.HasPrefix(out, "+") || strings.Trim(out[1:], "0123456789") != "" {
			t.Fatalf("%q → %q is not E.164", in, out)
		}
		again, err := NormalizePhone(out)
		if err != nil || again != out {
			t.Fatalf("%q → %q → %q, %v: not stable", in, out, again, err)
		}
		masked := MaskPhone(out)
		digits := strings.Count(masked, "") - 1 - strings.Count(masked, "*")
		if strings.Count(masked, "*") < 4 || digits > 8 {
			t.Fatalf("%q masks to %q", out, masked)
		}
	})
}
