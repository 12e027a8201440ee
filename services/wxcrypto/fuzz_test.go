package wxcrypto

import (
	"bytes"
	"encoding/xml"
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
		var fast, slow envelopeXML
		if fast.scan(body) {
			if err := decodeXML(body, &slow); err != nil || fast.ToUserName != slow.ToUserName ||
				fast.Encrypt != slow.Encrypt || fast.AgentID != slow.AgentID {
				t.Fatalf("fast read %+v, encoding/xml %+v %v", fast, slow, err)
			}
		}
	})
}

// FuzzScanFlat holds the fast reader to encoding/xml: whatever ScanFlat
// accepts, encoding/xml (strict) decodes to the same root, leaves and values.
func FuzzScanFlat(f *testing.F) {
	for _, s := range []string{
		"<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt><AgentID>1</AgentID></xml>",
		"<xml>\n  <MsgType><![CDATA[event]]></MsgType>\n  <CreateTime>1714037059</CreateTime>\n  <Event>subscribe</Event>\n</xml>\n",
		"<xml><A></A><B><![CDATA[]]></B><C> x > y </C></xml>",
		"<xml><A>1</A><A>2</A></xml>", "<xml><A><B>1</B></A></xml>", "<xml a=\"1\"><A>1</A></xml>",
		"<?xml version=\"1.0\"?><xml><A>1</A></xml>", "<xml><A>&amp;</A></xml>", "<xml><A>1\r\n2</A></xml>",
		"<root><Name><![CDATA[客户]]></Name></root>", "<xml><A>1</A></xml><B/>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		type leaf struct{ name, value string }
		var got []leaf
		var root string
		ok := ScanFlat(body, "", func(name string, v []byte) bool {
			got = append(got, leaf{name, string(v)})
			return true
		})
		if !ok {
			return
		}
		var doc struct {
			XMLName xml.Name
			Attrs   []xml.Attr `xml:",any,attr"`
			Leaves  []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
				Inner   string `xml:",innerxml"`
			} `xml:",any"`
		}
		dec := xml.NewDecoder(bytes.NewReader(body))
		dec.Strict = true
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("ScanFlat accepted what encoding/xml refuses: %v", err)
		}
		root = doc.XMLName.Local
		if len(doc.Attrs) > 0 || doc.XMLName.Space != "" || root == "" {
			t.Fatalf("root %+v attrs %v", doc.XMLName, doc.Attrs)
		}
		if len(doc.Leaves) != len(got) {
			t.Fatalf("%d leaves, encoding/xml %d", len(got), len(doc.Leaves))
		}
		for i, l := range doc.Leaves {
			if l.XMLName.Local != got[i].name || l.XMLName.Space != "" || l.Value != got[i].value {
				t.Fatalf("leaf %d: %q=%q, encoding/xml %q=%q", i, got[i].name, got[i].value, l.XMLName.Local, l.Value)
			}
		}
	})
}
