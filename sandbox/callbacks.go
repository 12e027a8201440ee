package sandbox

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// Callback targets.
const (
	targetWeCom = "wecom"
	targetOA    = "official"
)

// Callback statuses.
const (
	CallbackPending   = "pending"
	CallbackDelivered = "delivered"
	CallbackFailed    = "failed"
	CallbackNoURL     = "no_url" // no callback URL configured: recorded, not sent
)

const (
	maxCallbacks   = 2000
	maxAnswerBytes = 64 << 10
)

// CallbackRecord is one callback (event or URL verification) with every
// delivery attempt and the app's answers.
type CallbackRecord struct {
	ID        int64             `json:"id"`
	Target    string            `json:"target"` // wecom or official
	Kind      string            `json:"kind"`   // event or verify
	Event     string            `json:"event"`  // e.g. change_external_contact/add_external_contact
	OpenID    string            `json:"openid,omitempty"`
	Plaintext string            `json:"plaintext"`
	URL       string            `json:"url"`
	Status    string            `json:"status"`
	CreatedAt time.Time         `json:"created_at"`
	Attempts  []CallbackAttempt `json:"attempts"`
}

// CallbackAttempt is one HTTP request to the app and what came back.
type CallbackAttempt struct {
	At         time.Time `json:"at"`
	Method     string    `json:"method"`
	URL        string    `json:"url"`
	HTTPStatus int       `json:"http_status"`
	Answer     string    `json:"answer"`
	OK         bool      `json:"ok"`
	Reason     string    `json:"reason,omitempty"` // why the attempt failed
	DurationMS int64     `json:"duration_ms"`
}

// callbackQueue is an unbounded FIFO of record ids with a way to wait until
// everything queued has been delivered or given up on.
type callbackQueue struct {
	mu   sync.Mutex
	ids  []int64
	busy int
	wake chan struct{}
	idle chan struct{}
}

func newCallbackQueue() *callbackQueue {
	q := &callbackQueue{wake: make(chan struct{}, 1), idle: make(chan struct{})}
	close(q.idle)
	return q
}

func (q *callbackQueue) push(id int64) {
	q.mu.Lock()
	if q.busy == 0 {
		q.idle = make(chan struct{})
	}
	q.busy++
	q.ids = append(q.ids, id)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *callbackQueue) pop(ctx context.Context) (int64, bool) {
	for {
		q.mu.Lock()
		if len(q.ids) > 0 {
			id := q.ids[0]
			q.ids = q.ids[1:]
			q.mu.Unlock()
			return id, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return 0, false
		}
	}
}

func (q *callbackQueue) finish() {
	q.mu.Lock()
	q.busy--
	if q.busy == 0 {
		close(q.idle)
	}
	q.mu.Unlock()
}

// FlushCallbacks waits until every queued callback is delivered or failed.
func (s *Sandbox) FlushCallbacks(ctx context.Context) error {
	s.cb.mu.Lock()
	idle := s.cb.idle
	s.cb.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sandbox: flush callbacks: %w", ctx.Err())
	}
}

// CallbacksInFlight is how many callbacks are queued or being delivered.
func (s *Sandbox) CallbacksInFlight() int {
	if s.cb == nil {
		return 0
	}
	s.cb.mu.Lock()
	defer s.cb.mu.Unlock()
	return s.cb.busy
}

// enqueueCallback records a callback and queues it; callers hold s.mu.
func (s *Sandbox) enqueueCallback(target, event, openID, plaintext string) *CallbackRecord {
	rec := &CallbackRecord{ID: s.nextCallbackID(), Target: target, Kind: "event", Event: event, OpenID: openID,
		Plaintext: plaintext, URL: s.callbackURL(target), Status: CallbackPending, CreatedAt: s.now()}
	if rec.URL == "" {
		rec.Status = CallbackNoURL
	}
	s.w.Callbacks = append(s.w.Callbacks, rec)
	if len(s.w.Callbacks) > maxCallbacks {
		s.w.Callbacks = slices.Clone(s.w.Callbacks[len(s.w.Callbacks)-maxCallbacks:])
	}
	s.touch()
	if rec.URL != "" && s.cb != nil {
		s.cb.push(rec.ID)
	}
	return rec
}

func (s *Sandbox) nextCallbackID() int64 {
	if n := len(s.w.Callbacks); n > 0 {
		return s.w.Callbacks[n-1].ID + 1
	}
	return 1
}

func (s *Sandbox) callbackURL(target string) string {
	if target == targetOA {
		return s.opts.Official.CallbackURL
	}
	return s.opts.Corp.CallbackURL
}

func (s *Sandbox) record(id int64) *CallbackRecord {
	for i := len(s.w.Callbacks) - 1; i >= 0; i-- {
		if s.w.Callbacks[i].ID == id {
			return s.w.Callbacks[i]
		}
	}
	return nil
}

// Callbacks returns the recorded callbacks, oldest first.
func (s *Sandbox) Callbacks() []CallbackRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CallbackRecord, 0, len(s.w.Callbacks))
	for _, r := range s.w.Callbacks {
		cp := *r
		cp.Attempts = slices.Clone(r.Attempts)
		out = append(out, cp)
	}
	return out
}

// deliverLoop sends queued callbacks one at a time, so the app sees them in order.
func (s *Sandbox) deliverLoop(ctx context.Context) {
	defer s.done.Done()
	for {
		id, ok := s.cb.pop(ctx)
		if !ok {
			return
		}
		s.deliver(ctx, id)
		s.cb.finish()
	}
}

// outgoing is a prepared callback request; retries re-send it unchanged.
type outgoing struct {
	url     string
	body    []byte
	crypter *wxcrypto.Crypter // nil for OA plain mode
}

func (s *Sandbox) deliver(ctx context.Context, id int64) {
	s.mu.Lock()
	rec := s.record(id)
	var req outgoing
	var err error
	if rec != nil {
		req, err = s.prepare(rec)
	}
	s.mu.Unlock()
	if rec == nil {
		return
	}
	if err != nil {
		s.finishRecord(id, CallbackAttempt{At: s.now(), Method: http.MethodPost, Reason: err.Error()}, CallbackFailed)
		return
	}
	for attempt := 0; attempt <= s.opts.CallbackRetries; attempt++ {
		if attempt > 0 && !sleepCtx(ctx, s.opts.CallbackRetryDelay) {
			return
		}
		a := s.post(ctx, req)
		status := CallbackPending
		if a.OK {
			status = CallbackDelivered
		} else if attempt == s.opts.CallbackRetries {
			status = CallbackFailed
		}
		s.finishRecord(id, a, status)
		if a.OK {
			return
		}
	}
}

// prepare encrypts and signs the plaintext as the real server would.
func (s *Sandbox) prepare(rec *CallbackRecord) (outgoing, error) {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	nonce := strconv.FormatUint(s.rng.Uint64()%10_000_000_000, 10)
	if rec.Target == targetOA {
		return s.prepareOA(rec, ts, nonce)
	}
	cr, err := wxcrypto.NewCrypter(s.opts.Corp.Token, s.opts.Corp.EncodingAESKey, s.opts.Corp.CorpID)
	if err != nil {
		return outgoing{}, err
	}
	enc, sig, err := cr.Seal([]byte(rec.Plaintext), ts, nonce)
	if err != nil {
		return outgoing{}, err
	}
	env := wxcrypto.Envelope{ToUserName: s.opts.Corp.CorpID, Encrypt: enc, AgentID: strconv.Itoa(s.opts.Corp.AgentID)}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	return outgoing{url: withQuery(rec.URL, q), body: env.Marshal(), crypter: cr}, nil
}

func (s *Sandbox) prepareOA(rec *CallbackRecord, ts, nonce string) (outgoing, error) {
	o := s.opts.Official
	q := url.Values{"signature": {wxcrypto.Sign(o.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce},
		"openid": {rec.OpenID}}
	if o.Mode == ModePlain {
		return outgoing{url: withQuery(rec.URL, q), body: []byte(rec.Plaintext)}, nil
	}
	cr, err := wxcrypto.NewCrypter(o.Token, o.EncodingAESKey, o.AppID)
	if err != nil {
		return outgoing{}, err
	}
	enc, sig, err := cr.Seal([]byte(rec.Plaintext), ts, nonce)
	if err != nil {
		return outgoing{}, err
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", sig)
	env := wxcrypto.Envelope{ToUserName: o.OriginalID, Encrypt: enc}
	return outgoing{url: withQuery(rec.URL, q), body: env.Marshal(), crypter: cr}, nil
}

func withQuery(base string, q url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + q.Encode()
}

func (s *Sandbox) finishRecord(id int64, a CallbackAttempt, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.record(id); rec != nil {
		rec.Attempts = append(rec.Attempts, a)
		rec.Status = status
		s.touch()
	}
}

// post sends one attempt and judges the answer: HTTP 200 with an empty body,
// "success", or a valid encrypted reply (plain mode: any XML reply).
func (s *Sandbox) post(ctx context.Context, out outgoing) CallbackAttempt {
	a := CallbackAttempt{At: s.now(), Method: http.MethodPost, URL: out.url}
	start := time.Now()
	status, answer, err := s.send(ctx, http.MethodPost, out.url, out.body)
	a.DurationMS = time.Since(start).Milliseconds()
	a.HTTPStatus, a.Answer = status, answer
	switch {
	case err != nil:
		a.Reason = err.Error()
	case status != http.StatusOK:
		a.Reason = fmt.Sprintf("HTTP %d", status)
	default:
		a.Reason = judgeAnswer(answer, out.crypter)
	}
	a.OK = a.Reason == ""
	return a
}

func judgeAnswer(answer string, cr *wxcrypto.Crypter) string {
	trimmed := strings.TrimSpace(answer)
	if trimmed == "" || trimmed == "success" {
		return ""
	}
	if cr != nil {
		if _, err := cr.OpenReply([]byte(trimmed)); err != nil {
			return "malformed answer: " + err.Error()
		}
		return ""
	}
	var anyXML struct {
		XMLName xml.Name `xml:"xml"`
	}
	if err := xml.Unmarshal([]byte(trimmed), &anyXML); err != nil {
		return "malformed answer: not success, empty or an XML reply"
	}
	return ""
}

// send does one HTTP exchange with the callback timeout; redirects are not followed.
func (s *Sandbox) send(ctx context.Context, method, target string, body []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/xml")
	}
	req.Header.Set("User-Agent", "Mozilla/4.0 (sandbox; WeChat callback)")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, "", fmt.Errorf("timeout after %s", s.opts.CallbackTimeout)
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp.StatusCode, string(raw), fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, string(raw), nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
