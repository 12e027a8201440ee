package sandbox

import (
	"context"
	"image/png"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func (e *testEnv) oaToken() string {
	e.t.Helper()
	o := e.s.Options().Official
	out := e.do("GET", e.s.URLs().OfficialAPI, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"},
		"appid": {o.AppID}, "secret": {o.Secret}}, nil)
	tok, _ := out["access_token"].(string)
	if tok == "" {
		e.t.Fatalf("token: %v", out)
	}
	return tok
}

func (e *testEnv) oa(path, tok string, body any) map[string]any {
	e.t.Helper()
	return e.do("POST", e.s.URLs().OfficialAPI, path, url.Values{"access_token": {tok}}, body)
}

// qrcode/create answers tickets for good requests and WeChat's errcodes
// for bad ones; temporary codes are clamped to 30 days and expire; the
// showqrcode image is a PNG.
func TestQRCodeCreateAndShow(t *testing.T) {
	e := start(t)
	tok := e.oaToken()
	scene := func(k string, v any) map[string]any { return map[string]any{"scene": map[string]any{k: v}} }
	for _, c := range []struct {
		body map[string]any
		code int
	}{
		{map[string]any{"action_name": "QR_LIMIT_STR_SCENE", "action_info": scene("scene_str", "")}, 40058},
		{map[string]any{"action_name": "QR_LIMIT_SCENE", "action_info": scene("scene_id", 100001)}, 40058},
		{map[string]any{"action_name": "QR_SCENE", "action_info": scene("scene_id", 0)}, 40058},
		{map[string]any{"action_name": "QR_FOO", "action_info": scene("scene_str", "x")}, 40054},
		{map[string]any{"action_name": "QR_STR_SCENE", "expire_seconds": -1, "action_info": scene("scene_str", "x")}, 40058},
	} {
		wantErrcode(t, e.oa("/cgi-bin/qrcode/create", tok, c.body), c.code)
	}
	out := e.oa("/cgi-bin/qrcode/create", tok, map[string]any{"action_name": "QR_STR_SCENE", "expire_seconds": 99999999,
		"action_info": scene("scene_str", "poster")})
	if out["expire_seconds"] != float64(2592000) || out["ticket"] == "" {
		t.Fatalf("temporary code: %v", out)
	}
	resp, err := http.Get(e.s.URLs().Control + "/cgi-bin/showqrcode?ticket=" + url.QueryEscape(out["ticket"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := png.Decode(resp.Body); err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("showqrcode: %v %s", err, resp.Header.Get("Content-Type"))
	}
	fan, err := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "扫码"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(31 * 24 * time.Hour)
	if _, err := e.s.ScanQRCode(context.Background(), QRScanInput{WeChatUser: fan.ID, Scene: "poster"}); err == nil {
		t.Fatal("an expired code fired an event")
	}
}

// Without a callback URL a scan cannot be answered, and says so.
func TestQRScanNeedsCallbackURL(t *testing.T) {
	e := start(t)
	tok := e.oaToken()
	e.oa("/cgi-bin/qrcode/create", tok, map[string]any{"action_name": "QR_LIMIT_STR_SCENE",
		"action_info": map[string]any{"scene": map[string]any{"scene_str": "x1"}}})
	fan, _ := e.s.CreateWeChatUser(NewWeChatUser{Nickname: "无回调"})
	if _, err := e.s.ScanQRCode(context.Background(), QRScanInput{WeChatUser: fan.ID, Scene: "x1"}); err == nil {
		t.Fatal("scan without a callback URL succeeded")
	}
	if _, err := e.s.ScanQRCode(context.Background(), QRScanInput{WeChatUser: fan.ID, Scene: "unknown"}); err == nil {
		t.Fatal("scan of an unknown code succeeded")
	}
}
