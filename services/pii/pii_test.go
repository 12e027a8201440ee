package pii

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	b, err := NewBox(map[byte][]byte{1: newKey(t)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ct := b.SealString("identities.phone", "+8613912345678")
	if len(ct) != 1+12+14+16 {
		t.Fatalf("ciphertext is %d bytes", len(ct))
	}
	if bytes.Contains(ct, []byte("13912345678")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	got, err := b.OpenString("identities.phone", ct)
	if err != nil || got != "+8613912345678" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := b.Open("form_answers.value", ct); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("open under another column: %v", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := b.Open("identities.phone", ct); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("open of damaged ciphertext: %v", err)
	}
	if _, err := b.Open("identities.phone", nil); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("open of empty: %v", err)
	}
}

func TestRotationKeepsOldDataAndIndexes(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	old, _ := NewBox(map[byte][]byte{1: k1}, 1)
	rotated, err := NewBox(map[byte][]byte{1: k1, 2: k2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	ct := old.SealString("c", "secret")
	if got, err := rotated.OpenString("c", ct); err != nil || got != "secret" {
		t.Fatalf("old data under rotated ring: %q %v", got, err)
	}
	if rotated.SealString("c", "x")[0] != 2 {
		t.Fatal("new data not sealed with the current key")
	}
	if !bytes.Equal(old.BlindIndex("phone", "+86139"), rotated.BlindIndex("phone", "+86139")) {
		t.Fatal("blind index changed with rotation")
	}
	if bytes.Equal(old.BlindIndex("phone", "a"), old.BlindIndex("unionid", "a")) {
		t.Fatal("blind index ignores the domain")
	}
}

func TestParseKeyring(t *testing.T) {
	k := base64.StdEncoding.EncodeToString(newKey(t))
	k2 := base64.StdEncoding.EncodeToString(newKey(t))
	tests := []struct {
		name    string
		spec    string
		current byte
		n       int
		wantErr bool
	}{
		{"bare", k, 1, 1, false},
		{"ids", "3:" + k + ",1:" + k2, 3, 2, false},
		{"short", "1:AAAA", 0, 0, true},
		{"zero id", "0:" + k, 0, 0, true},
		{"dup", "1:" + k + ",1:" + k2, 0, 0, true},
		{"garbage", "1:%%%", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, cur, err := ParseKeyring(tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && (cur != tt.current || len(keys) != tt.n) {
				t.Fatalf("current %d, %d keys", cur, len(keys))
			}
		})
	}
}
