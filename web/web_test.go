package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

type fakeAssets struct{}

func (fakeAssets) Path(name string) string { return "/static/test/" + name }

func newEngine(t *testing.T, logs *bytes.Buffer) *gin.Engine {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, nil))
	e, err := web.NewEngine(web.Options{Log: log, MaxBodyBytes: 2048, ErrorPage: errorpage.Page,
		RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, fakeAssets{}) }})
	if err != nil {
		t.Fatal(err)
	}
	e.GET("/panic", func(c *gin.Context) { panic("secret detail 13912345678") })
	e.POST("/echo", func(c *gin.Context) {
		if _, err := c.GetRawData(); err != nil {
			web.Fail(c, err)
			return
		}
		c.String(http.StatusOK, "ok")
	})
	api := e.Group("/api", web.API())
	api.GET("/missing", func(c *gin.Context) { web.Fail(c, services.Errorf(services.ENOTFOUND, "用户不存在")) })
	return e
}

func TestPanicRendersErrorPageWithRequestID(t *testing.T) {
	var logs bytes.Buffer
	e := newEngine(t, &logs)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/panic", nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	if strings.Contains(body, "secret detail") || strings.Contains(body, "13912345678") {
		t.Fatal("panic detail leaked into the page")
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rid := doc.Find(`[data-testid="request-id"]`).Text()
	if rid == "" || rid != w.Header().Get("X-Request-ID") {
		t.Fatalf("request id on page %q, header %q", rid, w.Header().Get("X-Request-ID"))
	}
	if doc.Find(`link[href*="weui"]`).Length() == 0 {
		t.Fatal("error page is not the WeUI layout")
	}
	if !strings.Contains(logs.String(), `"msg":"panic"`) || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("no panic log line with a stack: %s", logs.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	var logs bytes.Buffer
	e := newEngine(t, &logs)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nowhere?token=abc", nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("status %d", w.Code)
	}
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' 'nonce-", "object-src 'none'", "frame-ancestors 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows unsafe scripts: %s", csp)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	if strings.Contains(logs.String(), "token=abc") {
		t.Error("access log contains the query string")
	}
	if !strings.Contains(logs.String(), `"status":404`) {
		t.Errorf("access log missing: %s", logs.String())
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEngine(t, &bytes.Buffer{})
	big := strings.Repeat("x", 4096)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(big)))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared oversized body: status %d", w.Code)
	}
	// A body without Content-Length (chunked) is cut off while read.
	req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(big))
	req.ContentLength = -1
	w = httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("streamed oversized body: status %d", w.Code)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEngine(t, &bytes.Buffer{})
	req := httptest.NewRequest(http.MethodPost, "http://app.example/echo", strings.NewReader("a=1"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST: status %d", w.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "http://app.example/echo", strings.NewReader("a=1"))
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	w = httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("same-origin POST: status %d", w.Code)
	}
}

func TestAPIErrorsAreProblemJSON(t *testing.T) {
	e := newEngine(t, &bytes.Buffer{})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/missing", nil))
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var p web.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != services.ENOTFOUND || p.Detail != "用户不存在" || p.RequestID == "" {
		t.Fatalf("problem %+v", p)
	}
	w = httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/no-such-thing", nil))
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown API path: status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
}
