package wecom

import (
	"errors"
	"net/http"
	"net/url"
)

// rewindTransport sends a fresh copy of every request body and leaves the
// caller's body unread.
//
// Why: on errcode 40001/40014/42001 the SDK (kernel.BaseClient.
// CheckTokenNeedRefresh, v3.4.41) refreshes the token and retries once by
// re-reading request.Body AFTER the first round trip has consumed it; the
// retry of every POST then carries Content-Length N and an empty body and
// fails. Sending a copy obtained from GetBody (which the SDK's dataflow sets
// for its JSON bodies) keeps the original readable for that retry. The
// request itself is not modified, as the RoundTripper contract requires.
type rewindTransport struct {
	next http.RoundTripper
}

func (t rewindTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody == nil {
		return t.next.RoundTrip(req)
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r2 := req.Clone(req.Context())
	r2.Body = body
	return t.next.RoundTrip(r2)
}

func newTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			base = dt.Clone()
		} else {
			base = http.DefaultTransport
		}
	}
	return rewindTransport{next: base}
}

// redactedError hides secrets and tokens that net/http puts into error
// texts (a *url.Error carries the full URL, e.g. ?corpsecret=...), while
// keeping the chain for errors.Is / errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) || redact(err.Error()) != err.Error() {
		return &redactedError{msg: redact(err.Error()), err: err}
	}
	return err
}
