package wxcrypto

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// vectorDir finds ../shared/reference/test-vectors next to the repository root.
func vectorDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
	vectors := filepath.Join(dir, "..", "shared", "reference", "test-vectors")
	if _, err := os.Stat(vectors); err != nil {
		t.Skipf("test vectors not available at %s (expected ../shared/reference/test-vectors next to the repo): %v", vectors, err)
	}
	return vectors
}

func loadVectors(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestSignatureVectors(t *testing.T) {
	var file struct {
		Cases []struct {
			ID     string            `json:"id"`
			Kind   string            `json:"kind"`
			Inputs map[string]string `json:"inputs"`
			Want   string            `json:"expected"`
		} `json:"cases"`
	}
	loadVectors(t, "callback-signature.json", &file)
	if len(file.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range file.Cases {
		t.Run(c.ID, func(t *testing.T) {
			parts := []string{c.Inputs["token"], c.Inputs["timestamp"], c.Inputs["nonce"]}
			if c.Kind == "msg_signature" {
				parts = append(parts, c.Inputs["encrypt"])
			}
			if got := Sign(parts...); got != c.Want {
				t.Fatalf("Sign = %s, want %s", got, c.Want)
			}
			if err := CheckSignature(c.Want, parts...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type aesKeyVector struct {
	EncodingAESKey string `json:"encoding_aes_key"`
	AESKeyHex      string `json:"aes_key_hex"`
}

func checkKey(t *testing.T, k aesKeyVector) []byte {
	t.Helper()
	key, err := AESKey(k.EncodingAESKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(key); got != k.AESKeyHex {
		t.Fatalf("AESKey = %s, want %s", got, k.AESKeyHex)
	}
	return key
}

func TestAESDecryptVectors(t *testing.T) {
	var file struct {
		Decrypt []struct {
			ID         string       `json:"id"`
			Key        aesKeyVector `json:"key"`
			Ciphertext string       `json:"ciphertext_base64"`
			Expected   struct {
				Msg       string `json:"msg"`
				ReceiveID string `json:"receiveid"`
				MsgLen    int    `json:"msg_len"`
				Random16  string `json:"random16"`
			} `json:"expected"`
			Token   string `json:"token"`
			Request *struct {
				Query map[string]string `json:"query"`
				Body  string            `json:"body"`
			} `json:"request"`
		} `json:"decrypt"`
	}
	loadVectors(t, "callback-aes.json", &file)
	for _, c := range file.Decrypt {
		t.Run(c.ID, func(t *testing.T) {
			key := checkKey(t, c.Key)
			msg, rid, err := Decrypt(key, c.Ciphertext)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg) != c.Expected.Msg || rid != c.Expected.ReceiveID || len(msg) != c.Expected.MsgLen {
				t.Fatalf("Decrypt = %q, %q", msg, rid)
			}
			// Re-encrypting with the recovered random prefix must give the published ciphertext.
			// random16 is published as the 16 raw characters of the prefix.
			again, err := Encrypt(key, []byte(c.Expected.Random16), msg, rid)
			if err != nil || again != c.Ciphertext {
				t.Fatalf("Encrypt = %q, %v; want the published ciphertext", again, err)
			}
			if c.Request != nil {
				openRequest(t, key, c.Token, rid, c.Request.Query, c.Request.Body, c.Expected.Msg)
			}
		})
	}
}

// openRequest replays a published POST through ParseEnvelope and Crypter.Open.
func openRequest(t *testing.T, key []byte, token, rid string, q map[string]string, body, want string) {
	t.Helper()
	cr := &Crypter{Token: token, Key: key, ReceiveID: rid}
	msg, err := cr.OpenEnvelope(q["msg_signature"], q["timestamp"], q["nonce"], []byte(body))
	if err != nil || string(msg) != want {
		t.Fatalf("OpenEnvelope = %q, %v", msg, err)
	}
	cr.ReceiveID = "wrong"
	if _, err := cr.OpenEnvelope(q["msg_signature"], q["timestamp"], q["nonce"], []byte(body)); !errors.Is(err, ErrReceiveID) {
		t.Fatalf("wrong receiveid: err = %v, want ErrReceiveID", err)
	}
}

func TestAESEncryptReplyVector(t *testing.T) {
	var file struct {
		Encrypt []struct {
			ID     string       `json:"id"`
			Key    aesKeyVector `json:"key"`
			Inputs struct {
				Random16  string `json:"random16"`
				Msg       string `json:"msg"`
				ReceiveID string `json:"receiveid"`
			} `json:"inputs"`
			Want     string `json:"expected_ciphertext_base64"`
			Envelope struct {
				Token        string `json:"token"`
				Timestamp    string `json:"timestamp"`
				Nonce        string `json:"nonce"`
				MsgSignature string `json:"msg_signature"`
				XML          string `json:"xml"`
			} `json:"reply_envelope"`
		} `json:"encrypt"`
	}
	loadVectors(t, "callback-aes.json", &file)
	for _, c := range file.Encrypt {
		t.Run(c.ID, func(t *testing.T) {
			key := checkKey(t, c.Key)
			cr := &Crypter{Token: c.Envelope.Token, Key: key, ReceiveID: c.Inputs.ReceiveID,
				Random: fixedReader(c.Inputs.Random16)}
			reply, err := cr.SealReply([]byte(c.Inputs.Msg), c.Envelope.Timestamp, c.Envelope.Nonce)
			if err != nil {
				t.Fatal(err)
			}
			if string(reply) != c.Envelope.XML {
				t.Fatalf("SealReply =\n%s\nwant\n%s", reply, c.Envelope.XML)
			}
			msg, err := cr.OpenReply(reply)
			if err != nil || string(msg) != c.Inputs.Msg {
				t.Fatalf("OpenReply = %q, %v", msg, err)
			}
		})
	}
}

func TestDerivedVectors(t *testing.T) {
	var file struct {
		Cases []struct {
			ID     string            `json:"id"`
			Inputs map[string]string `json:"inputs"`
			Key    aesKeyVector      `json:"key"`
			Want   struct {
				Encrypt      string `json:"encrypt"`
				Signature    string `json:"signature"`
				MsgSignature string `json:"msg_signature"`
				Request      *struct {
					Body string `json:"body"`
				} `json:"request"`
			} `json:"expected"`
		} `json:"cases"`
	}
	loadVectors(t, "derived-vectors.json", &file)
	for _, c := range file.Cases {
		t.Run(c.ID, func(t *testing.T) {
			in := c.Inputs
			rid := in["corpid"] + in["appid"]
			key := checkKey(t, c.Key)
			cr := &Crypter{Token: in["token"], Key: key, ReceiveID: rid, Random: fixedReader(in["random16"])}
			enc, sig, err := cr.Seal([]byte(in["msg"]), in["timestamp"], in["nonce"])
			if err != nil || enc != c.Want.Encrypt || sig != c.Want.MsgSignature {
				t.Fatalf("Seal = %q, %q, %v", enc, sig, err)
			}
			if c.Want.Signature != "" && Sign(in["token"], in["timestamp"], in["nonce"]) != c.Want.Signature {
				t.Fatal("plain signature mismatch")
			}
			if c.Want.Request != nil {
				env, err := ParseEnvelope([]byte(c.Want.Request.Body))
				if err != nil || env.Encrypt != enc || string(Envelope{ToUserName: env.ToUserName, Encrypt: enc}.Marshal()) != c.Want.Request.Body {
					t.Fatalf("envelope round trip: %+v, %v", env, err)
				}
			}
			msg, err := cr.Open(sig, in["timestamp"], in["nonce"], enc)
			if err != nil || string(msg) != in["msg"] {
				t.Fatalf("Open = %q, %v", msg, err)
			}
		})
	}
}

func TestJSSDKVectors(t *testing.T) {
	var file struct {
		Cases []struct {
			ID     string            `json:"id"`
			Inputs map[string]string `json:"inputs"`
			Want   string            `json:"expected"`
		} `json:"cases"`
	}
	loadVectors(t, "jssdk-signature.json", &file)
	for _, c := range file.Cases {
		t.Run(c.ID, func(t *testing.T) {
			in := c.Inputs
			if got := JSSDKSignature(in["jsapi_ticket"], in["noncestr"], in["timestamp"], in["url"]); got != c.Want {
				t.Fatalf("JSSDKSignature = %s, want %s", got, c.Want)
			}
			if got := JSSDKSignature(in["jsapi_ticket"], in["noncestr"], in["timestamp"], in["url"]+"#frag"); got != c.Want {
				t.Fatal("the fragment must not be signed")
			}
		})
	}
}

type fixed struct{ b []byte }

func (f *fixed) Read(p []byte) (int, error) { return copy(p, f.b), nil }

// fixedReader yields the given 16 [0-9a-zA-Z] characters unchanged through
// random16's alphabet mapping (it maps byte b to alphabet[b%62]).
func fixedReader(chars string) *fixed {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, len(chars))
	for i := range chars {
		for j := range alphabet {
			if alphabet[j] == chars[i] {
				b[i] = byte(j)
			}
		}
	}
	return &fixed{b: b}
}
