package services

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/pgtest"
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

// Accept runs at most cap(accepting) inserts at once: with every slot taken
// a caller waits, gives up with its context and stores nothing; a freed
// slot lets the next one through.
func TestAcceptBoundsInsertsInFlight(t *testing.T) {
	db := pgtest.NewDB(t)
	s := NewInboxService(db, testBox(t), NewAuditService(db))
	if cap(s.accepting) < 4 {
		t.Fatalf("%d slots", cap(s.accepting))
	}
	for range cap(s.accepting) {
		s.accepting <- struct{}{}
	}
	e := InboxEvent{CorpID: "ww1", Source: SourceWeCom, DedupKey: "k1", Event: "e", Payload: []byte("<xml/>")}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Accept(ctx, e); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("accept with every slot taken: %v", err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM wecom_inbox`); err != nil || n != 0 {
		t.Fatalf("%d stored, %v", n, err)
	}
	<-s.accepting
	if ok, err := s.Accept(context.Background(), e); err != nil || !ok {
		t.Fatalf("accept with a free slot: %v %v", ok, err)
	}
}
