package wecom

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

const testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

// §12.6: PowerWeChat's server side opens callbacks sealed by wxcrypto (the
// sandbox's encryption), for both URL verification and events.
func TestCallbackFromWxcrypto(t *testing.T) {
	f := newFake(t)
	c := fakeClient(t, f, func(c *Config) { c.CallbackToken = "cbToken"; c.CallbackAESKey = testAESKey })
	cr, err := wxcrypto.NewCrypter("cbToken", testAESKey, "wwfake")
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := "1700000000", "nonce123"

	echo, sig, err := cr.Seal([]byte("echo-42"), ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echo}}
	got, err := c.VerifyCallbackURL(httptest.NewRequest(http.MethodGet, "/wecom/callback?"+q.Encode(), nil))
	if err != nil || string(got) != "echo-42" {
		t.Fatalf("VerifyCallbackURL = %q, %v", got, err)
	}

	plain := `<xml><ToUserName><![CDATA[wwfake]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmEXT1]]></ExternalUserID><State><![CDATA[ch42]]></State><WelcomeCode><![CDATA[WC1]]></WelcomeCode></xml>`
	enc, sig, err := cr.Seal([]byte(plain), ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	body := wxcrypto.Envelope{ToUserName: "wwfake", Encrypt: enc, AgentID: "1000002"}.Marshal()
	q = url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	req := httptest.NewRequest(http.MethodPost, "/wecom/callback?"+q.Encode(), bytes.NewReader(body)) // no Content-Type on purpose
	ev, err := c.ReadCallback(req)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event != "change_external_contact" || ev.ChangeType != "add_external_contact" || ev.UserID != "zhangsan" ||
		ev.ExternalUserID != "wmEXT1" || ev.State != "ch42" || ev.WelcomeCode != "WC1" {
		t.Fatalf("event = %+v", ev)
	}

	// A bad signature is refused.
	q.Set("msg_signature", "0000")
	if _, err := c.ReadCallback(httptest.NewRequest(http.MethodPost, "/wecom/callback?"+q.Encode(), bytes.NewReader(body))); err == nil {
		t.Fatal("bad signature accepted")
	}
}
