// Package web is the HTTP plumbing shared by every surface: the Gin engine and
// its middleware, rendering of templ components, the mapping of service errors
// onto HTTP answers, and graceful serving.
//
// It imports gin, templ, the standard library and the services error codes;
// it never imports handlers or views (the error page is passed in), so both can
// depend on it without cycles.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
)

// ErrorPageFunc renders the page shown for a failed HTML request.
type ErrorPageFunc func(status int, message, requestID string) templ.Component

// Options configures the engine.
type Options struct {
	Log            *slog.Logger
	TrustedProxies []string // CIDRs or IPs whose X-Forwarded-For is believed; none by default
	MaxBodyBytes   int64    // request bodies above this are refused with 413
	ErrorPage      ErrorPageFunc
	// FrameAncestors lists the origins allowed to frame our pages, besides 'self'.
	FrameAncestors []string
	// RequestContext decorates every request's context before any other
	// middleware runs (e.g. with the asset table), so that even an error page
	// rendered by the body limit or CSRF check has what it needs.
	RequestContext func(context.Context) context.Context
}

// NewEngine returns a Gin engine with the project's middleware installed, in
// order: request id, access log, panic recovery, security headers, body limit
// and cross-origin (CSRF) protection.
func NewEngine(opts Options) (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// Gin trusts every proxy by default, which lets any client spoof its IP
	// through X-Forwarded-For; trust only what the operator configured.
	if err := e.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: trusted proxies: %w", err)
	}
	e.HandleMethodNotAllowed = false
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e.Use(
		requestContext(opts.RequestContext),
		requestID(),
		withErrorPage(opts.ErrorPage, log),
		accessLog(log),
		recovery(log),
		securityHeaders(opts.FrameAncestors),
		bodyLimit(opts.MaxBodyBytes),
		crossOriginProtection(),
	)
	e.NoRoute(func(c *gin.Context) {
		// API clients get problem+json for unknown paths too, not the HTML page.
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			c.Set(keyAPI, true)
		}
		Fail(c, services.Errorf(services.ENOTFOUND, "链接可能已失效或输入有误，请检查地址后重试"))
	})
	return e, nil
}
