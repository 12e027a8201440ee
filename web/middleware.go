package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
)

const (
	keyRequestID = "web.request_id"
	keyErrorPage = "web.error_page"
	keyLog       = "web.log"
	keyAPI       = "web.api"
)

// RequestID returns the id of the request, as sent in the X-Request-ID header.
func RequestID(c *gin.Context) string { return c.GetString(keyRequestID) }

// Logger returns the engine's logger, with the request id attached.
func Logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(keyLog); ok {
		return l.(*slog.Logger).With("req_id", RequestID(c))
	}
	return slog.New(slog.DiscardHandler)
}

func requestContext(decorate func(context.Context) context.Context) gin.HandlerFunc {
	return func(c *gin.Context) {
		if decorate != nil {
			c.Request = c.Request.WithContext(decorate(c.Request.Context()))
		}
		c.Next()
	}
}

func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Set(keyRequestID, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

func withErrorPage(page ErrorPageFunc, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		if page != nil {
			c.Set(keyErrorPage, page)
		}
		c.Set(keyLog, log)
		c.Next()
	}
}

// accessLog writes one line per request. It logs the route pattern, never the
// raw path or query, so codes, tokens and phone numbers in URLs stay out of logs.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(no route)"
		}
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", c.Writer.Size()),
			slog.String("req_id", RequestID(c)),
		)
	}
}

// recovery turns a panic into the generic error page and logs the stack; the
// person sees the request id and nothing of the panic.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				log.Error("panic", "req_id", RequestID(c), "route", c.FullPath(),
					"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if c.Writer.Written() {
					c.Abort()
					return
				}
				c.Writer.WriteHeader(0) // forget any status set but not yet written
				failInternal(c)
				c.Abort()
			}
		}()
		c.Next()
	}
}

// securityHeaders sets a strict CSP (no inline scripts, no eval) with a nonce
// for the rare templ script that needs one, and the usual hardening headers.
// Pages are framed only by ourselves and the WeCom/WeChat web clients.
func securityHeaders(frameAncestors []string) gin.HandlerFunc {
	ancestors := strings.Join(append([]string{"'self'"}, frameAncestors...), " ")
	return func(c *gin.Context) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		nonce := base64.RawStdEncoding.EncodeToString(b[:])
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'nonce-"+nonce+"'; "+
			"style-src 'self'; img-src 'self' data: https:; connect-src 'self'; font-src 'self' data:; "+
			"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors "+ancestors)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		c.Request = c.Request.WithContext(templ.WithNonce(c.Request.Context(), nonce))
		c.Next()
	}
}

// bodyLimit refuses declared oversized bodies at once and caps the rest, so a
// slow or huge upload cannot exhaust memory.
func bodyLimit(max int64) gin.HandlerFunc {
	if max <= 0 {
		max = 1 << 20
	}
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			c.Header("Connection", "close")
			Fail(c, tooLarge(max))
			c.Abort()
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// crossOriginProtection refuses cross-site browser POSTs (CSRF) using Go's
// Sec-Fetch-Site/Origin check. Requests from non-browsers (WeChat servers, CRM
// API clients) carry neither header and pass; they authenticate otherwise.
func crossOriginProtection() gin.HandlerFunc {
	cop := http.NewCrossOriginProtection()
	return func(c *gin.Context) {
		if err := cop.Check(c.Request); err != nil {
			Fail(c, forbidden("请求来源无效，请刷新页面后重试"))
			c.Abort()
			return
		}
		c.Next()
	}
}
