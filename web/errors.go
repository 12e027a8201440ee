package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
)

func tooLarge(max int64) error {
	return services.Errorf(services.ETOOLARGE, "请求内容过大（上限 %d KB）", max/1024)
}

func forbidden(msg string) error { return services.Errorf(services.EFORBIDDEN, "%s", msg) }

// Status returns the HTTP status for an error code.
func Status(code string) int {
	switch code {
	case services.EINVALID:
		return http.StatusUnprocessableEntity
	case services.ENOTFOUND:
		return http.StatusNotFound
	case services.ECONFLICT:
		return http.StatusConflict
	case services.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case services.EFORBIDDEN:
		return http.StatusForbidden
	case services.ERATELIMIT:
		return http.StatusTooManyRequests
	case services.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case services.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// API marks a route group as a JSON API: its failures are answered as
// application/problem+json instead of the HTML error page.
func API() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(keyAPI, true)
		c.Next()
	}
}

// IsAPI reports whether the request belongs to a JSON API group.
func IsAPI(c *gin.Context) bool { return c.GetBool(keyAPI) }

// Fail answers the request with err: the error page for HTML requests, a
// problem document for the API. Internal errors are logged once with their
// detail and shown as a generic message with the request id.
func Fail(c *gin.Context, err error) {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) { // the body limit tripped while a handler read the body
		err = tooLarge(mb.Limit)
	}
	code := services.ErrorCode(err)
	switch code {
	case services.EINTERNAL:
		Logger(c).Error("request failed", "route", c.FullPath(), "err", err)
	case services.EUNAVAILABLE:
		Logger(c).Warn("dependency unavailable", "route", c.FullPath(), "err", err)
	}
	answer(c, Status(code), code, services.ErrorMessage(err), services.ErrorFields(err))
}

func failInternal(c *gin.Context) {
	answer(c, http.StatusInternalServerError, services.EINTERNAL, services.ErrorMessage(nil), nil)
}

// Problem is an RFC 9457 problem document with the project's error code.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Code      string            `json:"code"`
	Detail    string            `json:"detail,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id"`
}

// NewProblem builds the problem document for a code and a safe message.
func NewProblem(c *gin.Context, status int, code, msg string, fields map[string]string) Problem {
	return Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code,
		Detail: msg, Fields: fields, RequestID: RequestID(c)}
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(c *gin.Context, p Problem) {
	body, _ := json.Marshal(p)
	c.Data(p.Status, "application/problem+json", body)
}

func answer(c *gin.Context, status int, code, msg string, fields map[string]string) {
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	if IsAPI(c) {
		WriteProblem(c, NewProblem(c, status, code, msg, fields))
		return
	}
	page, _ := c.Get(keyErrorPage)
	if fn, ok := page.(ErrorPageFunc); ok {
		Render(c, status, fn(status, msg, RequestID(c)))
		return
	}
	c.Data(status, "text/plain; charset=utf-8", []byte(fmt.Sprintf("%s (请求编号 %s)", msg, RequestID(c))))
}
