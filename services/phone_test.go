package services

import (
	"fmt"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"13912345678", "+8613912345678", true},
		{"139 1234 5678", "+8613912345678", true},
		{"139-1234-5678", "+8613912345678", true},
		{"+86 139 1234 5678", "+8613912345678", true},
		{"008613912345678", "+8613912345678", true},
		{"１３９１２３４５６７８", "+8613912345678", true},
		{"  13912345678 ", "+8613912345678", true},
		{"", "", false},
		{"1391234567", "", false},
		{"abc", "", false},
		{"010-62345678", "", false}, // fixed line
		{"12345678901", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizePhone(tt.in)
			if tt.ok != (err == nil) || got != tt.want {
				t.Fatalf("NormalizePhone(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code %q", ErrorCode(err))
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+8613912345678": "139****5678",
		"+14155550123":   "+141****0123",
		"+861":           "*",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJunkPhone(t *testing.T) {
	for in, want := range map[string]bool{
		"+8613800138000": true, "+8613900139000": true, "+8613333333333": true,
		"+8613888888888": true, "+8613912345678": false, "+8618600001234": false,
	} {
		if junkPhone(in) != want {
			t.Errorf("junkPhone(%q) = %v", in, !want)
		}
	}
}

// TestMainlandVerdictsMatchLibphonenumber checks the memo of NormalizePhone
// against libphonenumber for every five-digit prefix of an 11-digit number
// starting 1[3-9], with three different suffixes per prefix: if the library's
// metadata ever constrains more than the first five digits, this fails.
// Under the race detector (libphonenumber's regular expressions run ~20×
// slower) it checks every seventh prefix; `go test ./services` checks all.
func TestMainlandVerdictsMatchLibphonenumber(t *testing.T) {
	suffixes := []string{"000000", "987654", "135792"}
	stride := 1
	if raceDetector {
		stride = 7
	}
	for p := 13000; p <= 19999; p += stride {
		for _, suf := range suffixes {
			n := fmt.Sprintf("%d%s", p, suf)
			want, wantErr := parsePhone(n)
			got, err := NormalizePhone(n)
			if got != want || (err == nil) != (wantErr == nil) {
				t.Fatalf("NormalizePhone(%s) = %q, %v; library %q, %v", n, got, err, want, wantErr)
			}
			for _, form := range []string{"+86" + n, "86" + n, "0086" + n} {
				if g, err := NormalizePhone(form); g != want || (err == nil) != (wantErr == nil) {
					t.Fatalf("NormalizePhone(%s) = %q, %v; want %q, %v", form, g, err, want, wantErr)
				}
			}
		}
	}
}
