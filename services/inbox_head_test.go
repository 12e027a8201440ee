package services

import (
	"bytes"
	"encoding/xml"
	"testing"
)

// The callback head is read by wxcrypto.ScanFlat when the XML is flat, and
// by encoding/xml otherwise; both read the same head, and the dedup keys
// and labels of real callbacks are what they were.
func TestCallbackHeadFastAndSlowAgree(t *testing.T) {
	cases := []struct {
		xml        string
		flat       bool
		event, key string
	}{
		{`<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>
<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID><State><![CDATA[ch1]]></State></xml>`,
			true, "change_external_contact/add_external_contact", "sha256:"},
		{`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oFan1]]></FromUserName><CreateTime>1714037059</CreateTime>` +
			`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_ch1]]></EventKey></xml>`,
			true, "subscribe", "ev:oFan1:1714037059:subscribe:"},
		{`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oFan1]]></FromUserName><CreateTime>1714037060</CreateTime>` +
			`<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>22334455</MsgId></xml>`,
			true, "text", "msg:22334455"},
		{`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oFan1]]></FromUserName><CreateTime>1714037061</CreateTime>` +
			`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>` +
			`<Status><![CDATA[success]]></Status></xml>`,
			true, "TEMPLATESENDJOBFINISH", "ev:oFan1:1714037061:TEMPLATESENDJOBFINISH:200163836"},
		{`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oFan1]]></FromUserName><CreateTime>1714037062</CreateTime>` +
			`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[scancode_push]]></Event><EventKey><![CDATA[k]]></EventKey>` +
			`<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo></xml>`,
			false, "scancode_push", "ev:oFan1:1714037062:scancode_push:"},
		{`<xml><FromUserName>a &amp; b</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>VIEW</Event></xml>`,
			false, "VIEW", "ev:a & b:1:VIEW:"},
	}
	for _, c := range cases {
		var fast, slow callbackHead
		flat := fast.scan([]byte(c.xml))
		if err := xml.NewDecoder(bytes.NewReader([]byte(c.xml))).Decode(&slow); err != nil {
			t.Fatal(err)
		}
		if flat != c.flat || (flat && fast != slow) {
			t.Errorf("flat %v (want %v): fast %+v, encoding/xml %+v", flat, c.flat, fast, slow)
		}
		e, err := NewInboxEvent("ww1", SourceOA, []byte(c.xml))
		if c.event == "change_external_contact/add_external_contact" {
			e, err = NewInboxEvent("ww1", SourceWeCom, []byte(c.xml))
		}
		if err != nil || e.Event != c.event || !bytes.HasPrefix([]byte(e.DedupKey), []byte(c.key)) {
			t.Errorf("event %q key %q %v, want %q %q", e.Event, e.DedupKey, err, c.event, c.key)
		}
	}
	for _, bad := range []string{"", "<xml>", "not xml", "<xml><MsgType>event</MsgType></xml>"} {
		if _, err := NewInboxEvent("ww1", SourceOA, []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
