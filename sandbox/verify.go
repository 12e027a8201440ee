package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// SetWeComCallback saves the app's WeCom callback URL the way the admin
// console does: it first sends the GET URL verification (encrypted echostr)
// and saves the URL only when the app answers the decrypted echostr exactly.
// An empty url clears it. The attempt is recorded in Callbacks.
func (s *Sandbox) SetWeComCallback(ctx context.Context, callbackURL string) error {
	if callbackURL == "" {
		s.setCallbackURL(targetWeCom, "")
		return nil
	}
	s.mu.Lock()
	c := s.opts.Corp
	echo := s.digits(19)
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), s.digits(9)
	s.mu.Unlock()
	cr, err := wxcrypto.NewCrypter(c.Token, c.EncodingAESKey, c.CorpID)
	if err != nil {
		return fmt.Errorf("sandbox: wecom callback: %w", err)
	}
	enc, sig, err := cr.Seal([]byte(echo), ts, nonce)
	if err != nil {
		return fmt.Errorf("sandbox: wecom callback: %w", err)
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {enc}}
	return s.verifyURL(ctx, targetWeCom, callbackURL, withQuery(callbackURL, q), echo)
}

// SetOACallback saves the OA 服务器配置 URL after the plain GET verification
// (signature over token/timestamp/nonce, echostr echoed back unchanged).
func (s *Sandbox) SetOACallback(ctx context.Context, callbackURL string) error {
	if callbackURL == "" {
		s.setCallbackURL(targetOA, "")
		return nil
	}
	s.mu.Lock()
	o := s.opts.Official
	echo := s.digits(19)
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), s.digits(9)
	s.mu.Unlock()
	q := url.Values{"signature": {wxcrypto.Sign(o.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echo}}
	return s.verifyURL(ctx, targetOA, callbackURL, withQuery(callbackURL, q), echo)
}

func (s *Sandbox) verifyURL(ctx context.Context, target, callbackURL, full, want string) error {
	a := CallbackAttempt{At: s.now(), Method: http.MethodGet, URL: full}
	status, answer, err := s.send(ctx, http.MethodGet, full, nil)
	a.HTTPStatus, a.Answer = status, answer
	switch {
	case err != nil:
		a.Reason = err.Error()
	case status != http.StatusOK:
		a.Reason = fmt.Sprintf("HTTP %d", status)
	case answer != want:
		a.Reason = fmt.Sprintf("answer %q is not the echostr %q (no quotes, BOM or newline allowed)", truncate(answer, 64), want)
	}
	a.OK = a.Reason == ""
	s.mu.Lock()
	rec := &CallbackRecord{ID: s.nextCallbackID(), Target: target, Kind: "verify", Event: "url_verification",
		Plaintext: want, URL: callbackURL, Status: CallbackDelivered, CreatedAt: a.At, Attempts: []CallbackAttempt{a}}
	if !a.OK {
		rec.Status = CallbackFailed
	}
	s.w.Callbacks = append(s.w.Callbacks, rec)
	s.touch()
	s.mu.Unlock()
	if !a.OK {
		return fmt.Errorf("sandbox: %s callback URL verification failed: %s", target, a.Reason)
	}
	s.setCallbackURL(target, callbackURL)
	return nil
}

func (s *Sandbox) setCallbackURL(target, u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == targetOA {
		s.opts.Official.CallbackURL = u
	} else {
		s.opts.Corp.CallbackURL = u
	}
	s.touch()
}

// digits returns n random decimal digits (echostr, nonce); callers hold s.mu.
func (s *Sandbox) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + s.rng.IntN(10))
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
