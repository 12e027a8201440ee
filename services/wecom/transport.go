package wecom

import (
	"errors"
	"net/http"
	"net/url"
)

// newTransport returns the round tripper shared by every SDK app of a
// Client (one connection pool for all instances and secrets). The SDK
// otherwise uses http.DefaultTransport, shared with the whole process.
//
// No body-rewinding wrapper is needed: on 40001/40014/42001 the SDK re-reads
// request.Body for its retry after the first round trip, and with Go 1.26 the
// body is still intact (TestSDKRetriesPOSTBodyIntact pins this).
func newTransport(base http.RoundTripper) http.RoundTripper {
	if base != nil {
		return base
	}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		return dt.Clone()
	}
	return http.DefaultTransport
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
