package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// apiError is a business error: HTTP 200 with {"errcode","errmsg"} plus the
// empty list fields the real servers keep (Extra).
type apiError struct {
	Code  int
	Msg   string
	Extra map[string]any
}

func (e *apiError) Error() string { return fmt.Sprintf("errcode %d: %s", e.Code, e.Msg) }

// with returns a copy carrying extra fields, e.g. "external_contact_list": [].
func (e *apiError) with(key string, v any) *apiError {
	c := *e
	c.Extra = map[string]any{key: v}
	return &c
}

func apiErr(code int, msg string) *apiError { return &apiError{Code: code, Msg: msg} }

// The errcodes that several handlers share (wechat-protocol.md §3.0, §4.0);
// functions rather than variables so no handler can mutate a shared value.
func errMissingToken() *apiError { return apiErr(41001, "access_token missing") }
func errInvalidToken() *apiError { return apiErr(40014, "invalid access_token") }
func errExpiredToken() *apiError { return apiErr(42001, "access_token expired") }
func errNotLatestToken() *apiError {
	return apiErr(40001, "invalid credential, access_token is invalid or not latest")
}
func errUnauthorized() *apiError { return apiErr(48001, "api unauthorized") }
func errInvalidCode() *apiError  { return apiErr(40029, "invalid code") }
func errBadJSON() *apiError      { return apiErr(47001, "data format error, Warning: wrong json format.") }
func errBadParam(what string) *apiError {
	return apiErr(40058, "invalid parameter: "+what)
}

// okBody is the success header of every WeCom answer and most OA ones.
type okBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func ok() okBody { return okBody{ErrMsg: "ok"} }

// authKind says which access token a route needs.
type authKind int

const (
	authNone authKind = iota
	authWeCom
	authOA
	authMP
	authOAOrMP
	authSNS
)

// route is one server API.
type route struct {
	auth authKind
	fn   func(*call) (any, *apiError)
}

// call is one API request being served; handlers run with s.mu held.
type call struct {
	s    *Sandbox
	r    *http.Request
	q    url.Values
	body []byte
	tok  *token
}

func (c *call) param(name string) string { return c.q.Get(name) }

// decode parses the JSON body; an empty body is an empty object.
func (c *call) decode(v any) *apiError {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return errBadJSON()
	}
	return nil
}

// apiHost serves one real host (WeCom API or OA/MP API).
type apiHost struct {
	s      *Sandbox
	name   string // "wecom" or "official"; faults match on it
	routes map[string]route
}

const maxBody = 4 << 20

func (h *apiHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := cleanPath(r.URL.Path)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return
	}
	if h.s.injectFault(w, r, h.name, p) {
		return
	}
	rt, found := h.routes[p]
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]any{"errcode": 404, "errmsg": "sandbox: no such API " + p})
		return
	}
	out := h.s.serveCall(rt, &call{s: h.s, r: r, q: r.URL.Query(), body: body}, p)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(out)
}

// serveCall runs the handler under the lock and renders its answer there, so
// no state escapes the lock.
func (s *Sandbox) serveCall(rt route, c *call, path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits[path]++
	res, aerr := s.authorize(rt.auth, c)
	if aerr == nil {
		res, aerr = rt.fn(c)
	}
	if aerr != nil {
		return s.renderError(aerr, c.r.Host)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return s.renderError(apiErr(-1, "system error"), c.r.Host)
	}
	return b
}

func (s *Sandbox) authorize(kind authKind, c *call) (any, *apiError) {
	var owners []string
	switch kind {
	case authNone:
		return nil, nil
	case authWeCom:
		owners = []string{ownerAgent, ownerContact}
	case authOA:
		owners = []string{ownerOA}
	case authMP:
		owners = []string{ownerMP}
	case authOAOrMP:
		owners = []string{ownerOA, ownerMP}
	case authSNS:
		owners = []string{ownerSNS}
	}
	t, aerr := s.checkToken(c.param("access_token"), owners...)
	c.tok = t
	return nil, aerr
}

// renderError adds the hint the real servers append, so logs look familiar.
func (s *Sandbox) renderError(e *apiError, host string) []byte {
	msg := e.Msg
	if e.Code != 0 {
		msg = fmt.Sprintf("%s, hint: [%d_28_%s], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
			e.Msg, s.now().Unix(), deriveHex(s.w.Seed, "hint", uint64(s.now().UnixNano()), 32), e.Code)
	}
	m := map[string]any{"errcode": e.Code, "errmsg": msg}
	for k, v := range e.Extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// cleanPath collapses "//" (PowerWeChat calls //cgi-bin/get_jsapi_ticket)
// without the 301 that http.ServeMux would answer.
func cleanPath(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}
