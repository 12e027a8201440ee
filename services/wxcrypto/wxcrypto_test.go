package wxcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

func testCrypter(t testing.TB) *Crypter {
	t.Helper()
	c, err := NewCrypter("QDG6eK", testAESKey, "ww0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAESKeyRejects(t *testing.T) {
	for _, k := range []string{"", "short", testAESKey + "A", strings.Repeat("!", 43)} {
		if _, err := AESKey(k); !errors.Is(err, ErrKey) {
			t.Errorf("AESKey(%q) err = %v, want ErrKey", k, err)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	c := testCrypter(t)
	for _, n := range []int{0, 1, 11, 12, 31, 32, 100, 4096} {
		msg := bytes.Repeat([]byte("x"), n)
		enc, sig, err := c.Seal(msg, "1700000000", "42")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Open(sig, "1700000000", "42", enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("n=%d: Open = %q, %v", n, got, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	c := testCrypter(t)
	enc, sig, err := c.Seal([]byte("<xml/>"), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCrypter("QDG6eK", testAESKey, "wwother")
	otherKey, _ := NewCrypter("QDG6eK", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww0123456789abcdef")
	tests := []struct {
		name string
		c    *Crypter
		sig  string
		enc  string
		want error
	}{
		{"bad signature", c, strings.Repeat("0", 40), enc, ErrSignature},
		{"receiveid", other, sig, enc, ErrReceiveID},
		{"wrong key", otherKey, sig, enc, ErrDecrypt},
		{"not base64", c, Sign(c.Token, "1", "2", "%%%"), "%%%", ErrDecrypt},
		{"not a block multiple", c, Sign(c.Token, "1", "2", "AAAA"), "AAAA", ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.Open(tt.sig, "1", "2", tt.enc); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// rawEncrypt encrypts arbitrary (already padded) plaintext, to build hostile inputs.
func rawEncrypt(key, plain []byte) string {
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

func TestDecryptStrictLayout(t *testing.T) {
	key, _ := AESKey(testAESKey)
	huge := append(bytes.Repeat([]byte("r"), 16), 0xff, 0xff, 0xff, 0xff)
	tests := []struct {
		name  string
		plain []byte
		want  error
	}{
		{"pad byte zero", append(bytes.Repeat([]byte("a"), 31), 0), ErrDecrypt},
		{"pad byte 33", append(bytes.Repeat([]byte("a"), 31), 33), ErrDecrypt},
		{"inconsistent pad", append(bytes.Repeat([]byte("a"), 30), 1, 2), ErrDecrypt},
		{"too short after unpad", pad([]byte("0123456789")), ErrMalformed},
		{"length header beyond data", pad(huge), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Decrypt(key, rawEncrypt(key, tt.plain)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A 16-byte-aligned (but not 32-aligned) ciphertext is not what senders produce.
	if _, _, err := Decrypt(key, rawEncrypt(key, bytes.Repeat([]byte{16}, 48))); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("48-byte ciphertext: err = %v", err)
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Envelope
		err  error
	}{
		{"wecom order", "<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>",
			Envelope{ToUserName: "ww1", Encrypt: "abc=", AgentID: "1000002"}, nil},
		{"any order, no agent", "<xml>\n<Encrypt>abc=</Encrypt>\n<ToUserName>gh_1</ToUserName></xml>", Envelope{ToUserName: "gh_1", Encrypt: "abc="}, nil},
		{"missing Encrypt", "<xml><ToUserName>x</ToUserName></xml>", Envelope{}, ErrMalformed},
		{"not xml", "{\"a\":1}", Envelope{}, ErrMalformed},
		{"wrong root", "<foo><Encrypt>a</Encrypt></foo>", Envelope{}, ErrMalformed},
		{"too big", "<xml><Encrypt>" + strings.Repeat("A", MaxEnvelopeBytes) + "</Encrypt></xml>", Envelope{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvelope([]byte(tt.body))
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("ParseEnvelope = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestEnvelopeMarshalRoundTrip(t *testing.T) {
	e := Envelope{ToUserName: "ww]]>x", Encrypt: "abc+/=", AgentID: "1000002"}
	got, err := ReadEnvelope(bytes.NewReader(e.Marshal()))
	if err != nil || got != e {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
}

func TestVerifyURLWrongSignature(t *testing.T) {
	c := testCrypter(t)
	enc, _, _ := c.Seal([]byte("123"), "1", "2")
	if _, err := c.VerifyURL(Sign("other", "1", "2", enc), "1", "2", enc); !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v", err)
	}
}
