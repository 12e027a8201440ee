package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mustNew(t *testing.T) *Assets {
	t.Helper()
	a, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip.NewReader: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

func TestFiles(t *testing.T) {
	a := mustNew(t)
	got := a.Files()
	if !slices.IsSorted(got) {
		t.Errorf("Files not sorted: %v", got)
	}
	for _, want := range []string{AppCSS, AppJS, WeUICSS, HTMXJS, WeComJSSDK,
		"vendor/licenses/weui-2.6.26-LICENSE.txt",
		"vendor/licenses/htmx.org-2.0.11-LICENSE.txt",
		"vendor/licenses/wecom-jssdk-2.4.4-LICENSE.txt",
		"vendor/licenses/README.md",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("Files lacks %q", want)
		}
	}
	// Files returns a copy: changing it must not affect the table.
	got[0] = "x"
	if a.Files()[0] == "x" {
		t.Error("Files exposes the internal slice")
	}
}

func TestPath(t *testing.T) {
	a := mustNew(t)
	re := regexp.MustCompile(`^/static/[0-9a-f]{8}/`)
	for _, name := range a.Files() {
		p := a.Path(name)
		if !re.MatchString(p) || !strings.HasSuffix(p, "/"+name) {
			t.Errorf("Path(%q) = %q", name, p)
		}
	}
	// New is deterministic: two tables agree.
	if b := mustNew(t); a.Path(AppCSS) != b.Path(AppCSS) {
		t.Errorf("Path differs between New calls")
	}
}

func TestPathUnknownPanics(t *testing.T) {
	a := mustNew(t)
	for _, name := range []string{"css/nope.css", "/css/app.css", "css", "", "vendor/htmx.min.js"} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Path(%q) did not panic", name)
				}
			}()
			a.Path(name)
		})
	}
}

func TestServeEveryFile(t *testing.T) {
	a := mustNew(t)
	h := a.Handler()
	for _, name := range a.Files() {
		t.Run(name, func(t *testing.T) {
			want, err := files.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			rec := do(t, h, http.MethodGet, a.Path(name), nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			if !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("body differs from the embedded file")
			}
			if ct := rec.Header().Get("Content-Type"); ct == "application/octet-stream" || ct == "" {
				t.Errorf("Content-Type = %q: add the extension to contentType", ct)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	a := mustNew(t)
	h := a.Handler()
	tests := []struct {
		name, asset, ctype string
	}{
		{"app css", AppCSS, "text/css; charset=utf-8"},
		{"app js", AppJS, "text/javascript; charset=utf-8"},
		{"weui", WeUICSS, "text/css; charset=utf-8"},
		{"htmx", HTMXJS, "text/javascript; charset=utf-8"},
		{"jssdk", WeComJSSDK, "text/javascript; charset=utf-8"},
		{"licence", "vendor/licenses/weui-2.6.26-LICENSE.txt", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, a.Path(tt.asset), nil)
			hdr := rec.Header()
			checks := map[string]string{
				"Content-Type":           tt.ctype,
				"Cache-Control":          "public, max-age=31536000, immutable",
				"X-Content-Type-Options": "nosniff",
				"Vary":                   "Accept-Encoding",
				"Content-Encoding":       "",
			}
			for k, want := range checks {
				if got := hdr.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			wantTag := `"` + strings.Split(a.Path(tt.asset), "/")[2] + `"`
			if got := hdr.Get("ETag"); got != wantTag {
				t.Errorf("ETag = %q, want %q", got, wantTag)
			}
			if hdr.Get("Last-Modified") != "" {
				t.Errorf("unexpected Last-Modified")
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	a := mustNew(t)
	h := a.Handler()
	good := a.Path(AppCSS)
	sum := strings.Split(good, "/")[2]
	other := strings.Split(a.Path(HTMXJS), "/")[2]
	tests := []struct{ name, target string }{
		{"wrong hash", "/static/00000000/" + AppCSS},
		{"hash of another file", "/static/" + other + "/" + AppCSS},
		{"uppercase hash", "/static/" + strings.ToUpper(sum) + "/" + AppCSS},
		{"no hash", "/static/" + AppCSS},
		{"unknown file", "/static/" + sum + "/css/nope.css"},
		{"directory", "/static/" + sum + "/css/"},
		{"directory no slash", "/static/" + sum + "/css"},
		{"hash dir", "/static/" + sum + "/"},
		{"root", "/static/"},
		{"dot dot", "/static/" + sum + "/css/../" + AppCSS},
		{"double slash", "/static/" + sum + "//" + AppCSS},
		{"no prefix", "/" + sum + "/" + AppCSS},
		{"other prefix", "/assets/" + sum + "/" + AppCSS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, tt.target, nil)
			if rec.Code != http.StatusNotFound {
				t.Errorf("GET %s: status = %d, want 404", tt.target, rec.Code)
			}
			if strings.Contains(rec.Body.String(), "ma-") {
				t.Errorf("404 body leaks the file")
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q on 404", cc)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	a := mustNew(t)
	h := a.Handler()
	p := a.Path(HTMXJS)
	body, _ := files.ReadFile(HTMXJS)

	rec := do(t, h, http.MethodHead, p, nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %d bytes", rec.Code, rec.Body.Len())
	}
	if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(len(body)); got != want {
		t.Errorf("HEAD Content-Length = %q, want %q", got, want)
	}
	if rec.Header().Get("ETag") == "" {
		t.Error("HEAD lacks ETag")
	}

	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := do(t, h, m, p, nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d, Allow %q", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

func TestGzip(t *testing.T) {
	a := mustNew(t)
	h := a.Handler()
	tests := []struct {
		accept string
		gz     bool
	}{
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"*", true},
		{"br", false},
		{"identity", false},
		{"gzip;q=0", false},
		{"gzip;q=0.0, *;q=1", false},
		{"*;q=0", false},
		{"deflate, *;q=0.1", true},
		{"gzip;q=bogus", false},
	}
	body, _ := files.ReadFile(WeUICSS)
	p := a.Path(WeUICSS)
	sum := strings.Split(p, "/")[2]
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, p, map[string]string{"Accept-Encoding": tt.accept})
			hdr := rec.Header()
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if hdr.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary = %q", hdr.Get("Vary"))
			}
			got := rec.Body.Bytes()
			if tt.gz {
				if hdr.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding = %q, want gzip", hdr.Get("Content-Encoding"))
				}
				if hdr.Get("ETag") != `"`+sum+`-gz"` {
					t.Errorf("gzip ETag = %q", hdr.Get("ETag"))
				}
				if len(got) >= len(body)/3 {
					t.Errorf("gzip body %d bytes for %d plain", len(got), len(body))
				}
				got = gunzip(t, got)
			} else if hdr.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding = %q, want none", hdr.Get("Content-Encoding"))
			}
			if !bytes.Equal(got, body) {
				t.Error("body differs from the embedded file")
			}
		})
	}
}

func TestConditional(t *testing.T) {
	a := mustNew(t)
	h := a.Handler()
	p := a.Path(AppJS)
	etag := do(t, h, http.MethodGet, p, nil).Header().Get("ETag")
	gzTag := do(t, h, http.MethodGet, p, map[string]string{"Accept-Encoding": "gzip"}).Header().Get("ETag")
	tests := []struct {
		name, inm, ae string
		want          int
	}{
		{"match", etag, "", http.StatusNotModified},
		{"match gzip", gzTag, "gzip", http.StatusNotModified},
		{"weak match", "W/" + etag, "", http.StatusNotModified},
		{"list", `"nope", ` + etag, "", http.StatusNotModified},
		{"star", "*", "", http.StatusNotModified},
		{"stale", `"00000000"`, "", http.StatusOK},
		{"gzip tag, plain request", gzTag, "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, p, map[string]string{"If-None-Match": tt.inm, "Accept-Encoding": tt.ae})
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusNotModified && rec.Body.Len() != 0 {
				t.Error("304 with a body")
			}
		})
	}
}

// TestVendorVersions guards against a half-done upgrade: the file names, the
// constants and the file contents must agree (scripts/vendor.sh writes them).
func TestVendorVersions(t *testing.T) {
	tests := []struct {
		name  string
		wants []string
	}{
		{WeUICSS, []string{"WeUI v2.6.26", "prefers-color-scheme"}},
		{HTMXJS, []string{`version:"2.0.11"`}},
		{WeComJSSDK, []string{`"2.4.4"`, "var ww="}},
		{"vendor/licenses/weui-2.6.26-LICENSE.txt", []string{"MIT License"}},
		{"vendor/licenses/htmx.org-2.0.11-LICENSE.txt", []string{"Zero-Clause BSD"}},
		{"vendor/licenses/wecom-jssdk-2.4.4-LICENSE.txt", []string{`"license": "MIT"`, "Permission is hereby granted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := files.ReadFile(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wants {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("%s lacks %q", tt.name, w)
				}
			}
		})
	}
	// htmx 4 must not sneak in under the 2.x name.
	b, _ := files.ReadFile(HTMXJS)
	if bytes.Contains(b, []byte(`version:"4.`)) {
		t.Error("htmx file is 4.x")
	}
}

// TestNoRemoteReferences keeps the CSS self-contained (strict CSP, offline):
// every url( must be an inline data: URI or a fragment inside one.
func TestNoRemoteReferences(t *testing.T) {
	re := regexp.MustCompile(`url\(\s*["']?([^"')]{0,12})`)
	for _, name := range []string{AppCSS, WeUICSS} {
		b, _ := files.ReadFile(name)
		for _, m := range re.FindAllSubmatch(b, -1) {
			v := string(m[1])
			if !strings.HasPrefix(v, "data:") && !strings.HasPrefix(v, "%23") && !strings.HasPrefix(v, "#") {
				t.Errorf("%s: remote url(%s…)", name, v)
			}
		}
		if bytes.Contains(b, []byte("@import")) || bytes.Contains(b, []byte("@font-face")) {
			t.Errorf("%s has @import or @font-face", name)
		}
	}
}

// TestAppJSNoInlineOrEval checks the CSP-relevant rules for our own JS.
func TestAppJSNoInlineOrEval(t *testing.T) {
	b, _ := files.ReadFile(AppJS)
	for _, bad := range []string{"eval(", "new Function", "innerHTML", "=>", "let ", "const ", "`"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("app.js contains %q", bad)
		}
	}
}

func TestAcceptsGzipMultipleHeaders(t *testing.T) {
	if !acceptsGzip([]string{"br", "gzip"}) {
		t.Error("gzip in a second header line not seen")
	}
	if acceptsGzip(nil) {
		t.Error("no header means identity")
	}
}

// BenchmarkNew measures the start-up cost (hashing and gzipping every file).
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}
