package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
)

// Render writes cmp with status through templ.Handler: the output is buffered,
// so a failing component becomes a clean 500 instead of half a page, and it is
// rendered with the request's context (nonce, request id, assets). With
// fragments, only those @templ.Fragment blocks are written (htmx partials).
// HTML is never cached: the WeChat and WeCom webviews cache aggressively.
func Render(c *gin.Context, status int, cmp templ.Component, fragments ...any) {
	c.Header("Cache-Control", "no-store")
	opts := []func(*templ.ComponentHandler){
		templ.WithStatus(status),
		templ.WithErrorHandler(func(r *http.Request, err error) http.Handler {
			Logger(c).Error("render failed", "route", c.FullPath(), "err", err)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte("系统繁忙，请稍后再试 (请求编号 " + RequestID(c) + ")"))
			})
		}),
	}
	if len(fragments) > 0 {
		opts = append(opts, templ.WithFragments(fragments...))
	}
	templ.Handler(cmp, opts...).ServeHTTP(c.Writer, c.Request)
}

// IsHTMX reports whether the request was made by htmx.
func IsHTMX(c *gin.Context) bool { return c.GetHeader("HX-Request") == "true" }
