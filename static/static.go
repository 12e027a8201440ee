// Package static embeds the browser assets (the project's CSS and JS and the
// vendored WeUI, htmx and WeCom JS-SDK files) and serves them under
// content-hashed URLs: /static/<sha8>/<name>, where sha8 is the first 8 hex
// characters of the file's SHA-256. A changed file gets a new URL, so every
// response can be cached for a year as immutable.
//
// Views ask for URLs with Assets.Path; the web package mounts Assets.Handler
// on GET and HEAD /static/*. The files under vendor/ are written by
// scripts/vendor.sh and must not be edited by hand.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// files is the one package-level variable: the embedded asset tree.
//
//go:embed css js vendor
var files embed.FS

// Names of the assets the layouts link to. The vendored names carry the
// library version, so an upgrade (scripts/vendor.sh) changes them here.
const (
	AppCSS     = "css/app.css"
	AppJS      = "js/app.js"
	WeUICSS    = "vendor/weui-2.6.26.min.css"
	HTMXJS     = "vendor/htmx-2.0.11.min.js"
	WeComJSSDK = "vendor/wecom-jssdk-2.4.4.global.prod.js"
)

// URLPrefix is the path under which Handler serves the assets.
const URLPrefix = "/static/"

const cacheControl = "public, max-age=31536000, immutable"

// asset is one embedded file with everything needed to serve it.
type asset struct {
	sum   string // first 8 hex chars of the SHA-256 of body
	ctype string // Content-Type
	body  []byte
	gz    []byte // gzip-encoded body; nil when not a text type or not smaller
}

// Assets is the checksum table of the embedded files. It is built once by New
// and never modified afterwards, so it is safe for concurrent use.
type Assets struct {
	byName map[string]*asset // keyed by slash-separated name, e.g. "css/app.css"
	names  []string          // sorted
}

// New reads every embedded file once, computes its checksum and, for text
// types, a gzip-compressed copy.
func New() (*Assets, error) {
	a := &Assets{byName: make(map[string]*asset)}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype, text := contentType(name)
		f := &asset{sum: hex.EncodeToString(sum[:])[:8], ctype: ctype, body: body}
		if text {
			if f.gz, err = compress(body); err != nil {
				return fmt.Errorf("gzip %s: %w", name, err)
			}
		}
		a.byName[name] = f
		a.names = append(a.names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	slices.Sort(a.names)
	return a, nil
}

// Path returns the URL of the named asset, e.g. "css/app.css" becomes
// "/static/1a2b3c4d/css/app.css". It panics if there is no such asset: a
// misspelt name is a programming error that rendering tests catch.
func (a *Assets) Path(name string) string {
	f, ok := a.byName[name]
	if !ok {
		panic(fmt.Sprintf("static: unknown asset %q", name))
	}
	return URLPrefix + f.sum + "/" + name
}

// Files returns the names of all embedded assets, sorted.
func (a *Assets) Files() []string {
	return slices.Clone(a.names)
}

// Handler serves GET and HEAD /static/<sha8>/<name>. The request path must
// still carry the /static/ prefix (do not wrap it in http.StripPrefix). A
// wrong or stale checksum, an unknown name or a directory gives 404; other
// methods give 405. Responses are immutable for a year, carry the checksum as
// ETag and are gzip-encoded when the client accepts it.
func (a *Assets) Handler() http.Handler {
	return http.HandlerFunc(a.serve)
}

func (a *Assets) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		h.Set("Cache-Control", "no-store")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	f, ok := a.lookup(r.URL.Path)
	if !ok {
		h.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}

	body, etag := f.body, `"`+f.sum+`"`
	if f.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			// A different representation needs a different strong ETag.
			body, etag = f.gz, `"`+f.sum+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	// ServeContent handles HEAD, If-None-Match (304), Range and Content-Length.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// lookup resolves "/static/<sha8>/<name>" to the asset, only if the checksum
// is the asset's current one. Names are matched exactly, so "..", "//" and
// directories never match.
func (a *Assets) lookup(urlPath string) (*asset, bool) {
	rest, ok := strings.CutPrefix(urlPath, URLPrefix)
	if !ok {
		return nil, false
	}
	sum, name, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, false
	}
	f, ok := a.byName[name]
	if !ok || f.sum != sum {
		return nil, false
	}
	return f, true
}

// acceptsGzip reports whether the Accept-Encoding values allow gzip
// (RFC 9110 §12.5.3): "gzip" or "x-gzip" with q>0, or "*" with q>0 when gzip
// is not listed explicitly.
func acceptsGzip(values []string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					parsed, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil {
						parsed = 0
					}
					q = parsed
				}
			}
			switch c := strings.ToLower(strings.TrimSpace(coding)); c {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// contentType returns the Content-Type for name, and whether it is a text type
// worth compressing. Unknown extensions are served as opaque bytes.
func contentType(name string) (ctype string, text bool) {
	switch strings.ToLower(path.Ext(name)) {
	case ".css":
		return "text/css; charset=utf-8", true
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8", true
	case ".json", ".map":
		return "application/json", true
	case ".svg":
		return "image/svg+xml", true
	case ".txt":
		return "text/plain; charset=utf-8", true
	case ".md":
		return "text/markdown; charset=utf-8", true
	case ".png":
		return "image/png", false
	case ".jpg", ".jpeg":
		return "image/jpeg", false
	case ".webp":
		return "image/webp", false
	case ".ico":
		return "image/x-icon", false
	case ".woff2":
		return "font/woff2", false
	}
	return "application/octet-stream", false
}

// compress gzips body at the best compression; it returns nil when that does
// not make the file smaller.
func compress(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() >= len(body) {
		return nil, nil
	}
	return buf.Bytes(), nil
}
