package sandbox

import (
	"embed"
	"mime"
	"net/http"
	"path"
	"strings"
)

// assetFS holds the console and the ww shim (the one allowed package-level value).
//
//go:embed assets
var assetFS embed.FS

// ShimJS returns the ww shim script, for apps that prefer to serve it themselves.
func ShimJS() []byte {
	b, _ := assetFS.ReadFile("assets/ww-shim.js")
	return b
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := assetFS.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func assetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if !strings.HasPrefix(name, "assets/") {
			http.NotFound(w, r)
			return
		}
		serveAsset(w, r, name)
	})
}

// secureHeaders puts the console and picker under a strict CSP: they are
// plain pages with external scripts and styles only.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}
