package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// The keys one deployment's instances share (reliability and
// several-instance tests).
var (
	deploySessionKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	deployEncryption = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x3c}, 32))
)

// deploymentEnv is the environment of one instance of a deployment on dsn,
// with ASSISTANT_INTERNAL set to internal.
func deploymentEnv(dsn, internal string) map[string]string {
	return map[string]string{"DATABASE_URL": dsn, "SESSION_KEY": deploySessionKey, "ENCRYPTION_KEY": deployEncryption,
		"SANDBOX": "off", "TRUSTED_PROXIES": "127.0.0.1", internalVar: internal}
}

// deploymentBox is the PII box of deployEncryption, for writing settings the
// instances can read.
func deploymentBox(t testing.TB) *pii.Box {
	t.Helper()
	keys, cur, err := pii.ParseKeyring(deployEncryption)
	if err != nil {
		t.Fatal(err)
	}
	box, err := pii.NewBox(keys, cur)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// sharedSandbox is an in-process WeCom / WeChat sandbox that the app
// instances reach through ASSISTANT_INTERNAL, and the crypters WeChat would
// seal its callbacks with.
type sharedSandbox struct {
	*sandbox.Sandbox
	wecom, oa *wxcrypto.Crypter
}

func startSharedSandbox(t testing.TB, seed sandbox.SeedInput) *sharedSandbox {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Seed: 11, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	if _, err := sb.Seed(seed); err != nil {
		t.Fatal(err)
	}
	o := sb.Options()
	s := &sharedSandbox{Sandbox: sb}
	if s.wecom, err = wxcrypto.NewCrypter(o.Corp.Token, o.Corp.EncodingAESKey, o.Corp.CorpID); err != nil {
		t.Fatal(err)
	}
	if s.oa, err = wxcrypto.NewCrypter(o.Official.Token, o.Official.EncodingAESKey, o.Official.AppID); err != nil {
		t.Fatal(err)
	}
	return s
}

// internal is the ASSISTANT_INTERNAL value pointing an instance at the
// sandbox, plus extra options.
func (s *sharedSandbox) internal(extra ...string) string {
	u := s.URLs()
	return strings.Join(append([]string{"wecom_url=" + u.WeComAPI, "official_url=" + u.OfficialAPI, "oauth_url=" + u.OAuth}, extra...), ",")
}

// saveSettings saves the sandbox's credentials as the app's settings, the
// way demo mode does.
func (s *sharedSandbox) saveSettings(t testing.TB, db *sqlx.DB) {
	t.Helper()
	box := deploymentBox(t)
	settings := services.NewSettingsService(db, box, services.NewAuditService(db))
	if _, err := settings.SaveSandboxSettings(context.Background(), sandboxSettings(s.Options())); err != nil {
		t.Fatal(err)
	}
}

// relations lists every customer relation of the sandbox (employee, customer).
func (s *sharedSandbox) relations() []sandbox.Follow {
	var out []sandbox.Follow
	for _, c := range s.Customers("", 1<<20) {
		out = append(out, c.Follows...)
	}
	return out
}

// fans lists the sandbox people following the Official Account.
func (s *sharedSandbox) fans() []sandbox.WeChatUser {
	var out []sandbox.WeChatUser
	for _, p := range s.WeChatUsers("", 1<<20) {
		if p.Subscribed {
			out = append(out, p)
		}
	}
	return out
}

// wecomAdded is the add_external_contact callback WeCom sends for a relation.
func (s *sharedSandbox) wecomAdded(f sandbox.Follow, at int64) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"+
		"<ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[%s]]></UserID>"+
		"<ExternalUserID><![CDATA[%s]]></ExternalUserID></xml>", s.Options().Corp.CorpID, at, f.UserID, f.ExternalUserID)
}

// oaClick is an Official Account menu CLICK by openid (one oa_menu_clicked
// moment per (openid, time, key)).
func (s *sharedSandbox) oaClick(openID string, at int64, key string) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>"+
		"<EventKey><![CDATA[%s]]></EventKey></xml>", s.Options().Official.OriginalID, openID, at, key)
}

// oaUnsubscribe needs no API call to process (one oa_unsubscribed moment).
func (s *sharedSandbox) oaUnsubscribe(openID string, at int64) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>",
		s.Options().Official.OriginalID, openID, at)
}

var nonces atomic.Int64

// postCallback seals plain like WeChat (a fresh timestamp, nonce and random
// prefix per delivery) and POSTs it to base + path ("/callbacks/wecom" or
// "/callbacks/oa"). It returns the status and the body.
func (s *sharedSandbox) postCallback(c *http.Client, base, path string, plain []byte) (int, string, error) {
	cr, to := s.wecom, s.Options().Corp.CorpID
	if path == "/callbacks/oa" {
		cr, to = s.oa, s.Options().Official.OriginalID
	}
	ts, nonce := fmt.Sprint(time.Now().Unix()), fmt.Sprintf("n%d", nonces.Add(1))
	enc, sig, err := cr.Seal(plain, ts, nonce)
	if err != nil {
		return 0, "", err
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	if path == "/callbacks/oa" {
		q.Set("encrypt_type", "aes")
		q.Set("signature", wxcrypto.Sign(cr.Token, ts, nonce))
	}
	resp, err := c.Post(base+path+"?"+q.Encode(), "text/xml", bytes.NewReader(wxcrypto.Envelope{ToUserName: to, Encrypt: enc}.Marshal()))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// noRedirects is a client that shows redirects instead of following them.
func noRedirects(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func countRows(t testing.TB, db *sqlx.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// eventually polls cond every 25 ms until it holds or within passes.
func eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// inboxSettled reports whether every inbox row was processed.
func inboxSettled(t testing.TB, db *sqlx.DB) bool {
	return countRows(t, db, `SELECT count(*) FROM wecom_inbox WHERE state <> 'done'`) == 0
}

// inboxProblems lists inbox rows not done, for failure messages.
func inboxProblems(db *sqlx.DB) []string {
	var bad []string
	_ = db.Select(&bad, `SELECT state || ' ' || event || ' x' || attempts || ': ' || last_error FROM wecom_inbox
		WHERE state <> 'done' ORDER BY id LIMIT 10`)
	return bad
}
