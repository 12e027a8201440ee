package wxcrypto

import (
	"bytes"
	"testing"
)

// The fuzz targets check that hostile input never panics and that whatever
// decrypts re-encrypts to a consistent layout. Seeds live in testdata/fuzz.

func FuzzDecrypt(f *testing.F) {
	key, _ := AESKey(testAESKey)
	f.Add("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
	f.Fuzz(func(t *testing.T, b64 string) {
		msg, rid, err := Decrypt(key, b64)
		if err != nil {
			return
		}
		again, err := Encrypt(key, make([]byte, 16), msg, rid)
		if err != nil {
			t.Fatal(err)
		}
		msg2, rid2, err := Decrypt(key, again)
		if err != nil || !bytes.Equal(msg, msg2) || rid != rid2 {
			t.Fatalf("round trip changed the message: %v", err)
		}
	})
}

func FuzzOpen(f *testing.F) {
	c := testCrypter(f)
	enc, sig, _ := c.Seal([]byte("<xml><A>1</A></xml>"), "1409659813", "1372623149")
	f.Add(sig, "1409659813", "1372623149", enc)
	f.Fuzz(func(t *testing.T, sig, ts, nonce, enc string) {
		msg, err := c.Open(sig, ts, nonce, enc)
		if err == nil && Sign(c.Token, ts, nonce, enc) != sig {
			t.Fatalf("opened %q with a wrong signature", msg)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte("<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ParseEnvelope(body)
		if err != nil {
			return
		}
		if e.Encrypt == "" {
			t.Fatal("accepted an envelope without Encrypt")
		}
		if _, err := ParseEnvelope(e.Marshal()); err != nil {
			t.Fatalf("re-parse of a marshalled envelope: %v", err)
		}
	})
}
