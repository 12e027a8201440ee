// Package services holds the product's rules and the SQL that runs them.
//
// Handlers translate HTTP into calls on the services defined here; the services
// never see HTTP or HTML. Expected outcomes (bad input, not found, conflicts,
// refusals) are returned as *Error with a code for the program and a message
// that is safe to show a person; anything else is an internal error that is
// logged with its detail and shown to nobody.
package services

import (
	"errors"
	"fmt"
)

// Error codes. They map onto HTTP statuses in package web.
const (
	EINVALID      = "invalid"      // the input breaks a rule; Fields says which
	ENOTFOUND     = "not_found"    // the thing does not exist, or the caller may not know it does
	ECONFLICT     = "conflict"     // the request clashes with the current state
	EUNAUTHORIZED = "unauthorized" // the caller is not signed in
	EFORBIDDEN    = "forbidden"    // the caller is signed in but may not do this
	ERATELIMIT    = "rate_limited" // too many attempts; try later
	ETOOLARGE     = "too_large"    // the request body or batch is over its limit
	EUNAVAILABLE  = "unavailable"  // a dependency (database, WeChat) is away; try later
	EINTERNAL     = "internal"     // anything unexpected
)

// Error is an expected failure with a code and a message safe to show.
type Error struct {
	Code    string
	Message string
	// Fields holds per-field messages for EINVALID, keyed by form field name.
	Fields map[string]string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error carrying per-field messages.
func Invalid(message string, fields map[string]string) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// ErrorCode returns the code of err, EINTERNAL for anything that is not an *Error
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if databaseUnavailable(err) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err that is safe to show a person.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	if databaseUnavailable(err) {
		return "服务暂时不可用，请稍后再试"
	}
	return "系统繁忙，请稍后再试"
}

// ErrorFields returns the per-field messages of an EINVALID error, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
