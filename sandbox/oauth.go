package sandbox

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// oauthHandler is open.weixin.qq.com: the authorize page for WeCom
// (appid = corp id, agentid) and the Official Account (appid = wx…). It lists
// people to pick; ?sandbox_pick=<id> picks without a click (headless tests),
// ?sandbox_refuse=1 refuses snsapi_userinfo consent.
func (s *Sandbox) oauthHandler() http.Handler {
	page := template.Must(template.New("pick").Parse(pickerHTML))
	mux := http.NewServeMux()
	authorize := func(w http.ResponseWriter, r *http.Request) { s.serveAuthorize(w, r, page) }
	mux.HandleFunc("/connect/oauth2/authorize", authorize)
	mux.HandleFunc("/connect/qrconnect", authorize)
	mux.HandleFunc("/wwopen/sso/qrConnect", authorize)
	mux.HandleFunc("/wwlogin/sso/login", s.webLoginHandler()) // wwlogin.go
	mux.Handle("/assets/", assetHandler())
	return secureHeaders(mux)
}

type authorizeRequest struct {
	appID, redirect, scope, state, agentID string
	wecom                                  bool
}

func (s *Sandbox) parseAuthorize(q url.Values) (authorizeRequest, string) {
	a := authorizeRequest{appID: q.Get("appid"), redirect: q.Get("redirect_uri"), scope: q.Get("scope"),
		state: q.Get("state"), agentID: q.Get("agentid")}
	s.mu.Lock()
	corpID, oaID, agent := s.opts.Corp.CorpID, s.opts.Official.AppID, strconv.Itoa(s.opts.Corp.AgentID)
	s.mu.Unlock()
	u, err := url.Parse(a.redirect)
	switch {
	case a.appID != corpID && a.appID != oaID:
		return a, "appid 参数错误 (not the sandbox corp id or OA appid)"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return a, "redirect_uri 参数错误 (must be an absolute http(s) URL)"
	case len(a.state) > 128:
		return a, "state longer than 128 bytes"
	}
	a.wecom = a.appID == corpID
	if a.scope == "" {
		a.scope = scopeBase
	}
	if a.wecom && a.agentID != "" && a.agentID != agent {
		return a, "agentid 参数错误"
	}
	if !a.wecom && a.scope != scopeBase && a.scope != scopeUserInfo && a.scope != "snsapi_login" {
		return a, "scope 参数错误"
	}
	return a, ""
}

func (s *Sandbox) serveAuthorize(w http.ResponseWriter, r *http.Request, page *template.Template) {
	q := r.URL.Query()
	a, problem := s.parseAuthorize(q)
	if problem != "" {
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	if q.Get("sandbox_refuse") == "1" {
		http.Redirect(w, r, withQuery(a.redirect, url.Values{"state": {a.state}}), http.StatusFound)
		return
	}
	if pick := q.Get("sandbox_pick"); pick != "" {
		if a.wecom && s.withoutBasicAccount(pick) {
			// what the WeCom client shows a member without a basic account
			http.Error(w, "联系服务商购买基础帐号 (this member has no basic licence)", http.StatusForbidden)
			return
		}
		code, ok := s.oauthCode(a, pick)
		if !ok {
			http.Error(w, "sandbox_pick: no such person or employee: "+pick, http.StatusNotFound)
			return
		}
		http.Redirect(w, r, withQuery(a.redirect, url.Values{"code": {code}, "state": {a.state}}), http.StatusFound)
		return
	}
	s.renderPicker(w, r, page, a)
}

// oauthCode mints the single-use 5-minute code for the picked identity.
func (s *Sandbox) oauthCode(a authorizeRequest, pick string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.wecom {
		if e := s.w.employee(pick); e != nil {
			return s.newCode("wecom_oauth", e.UserID, true, a.scope), true
		}
	}
	p := s.w.person(pick)
	if p == nil {
		return "", false
	}
	if a.wecom {
		return s.newCode("wecom_oauth", p.ID, false, a.scope), true
	}
	return s.newCode("oa_oauth", p.ID, false, a.scope), true
}

type pickOption struct {
	Label, Detail string
	Href          template.URL
}

type pickerView struct {
	Title, Query, RefuseHref string
	Hidden                   [][2]string // the authorize parameters, kept by the search form
	Employees, People        []pickOption
}

func (s *Sandbox) renderPicker(w http.ResponseWriter, r *http.Request, page *template.Template, a authorizeRequest) {
	filter := strings.ToLower(r.URL.Query().Get("q"))
	link := func(id string) template.URL {
		q := r.URL.Query()
		q.Set("sandbox_pick", id)
		return template.URL(r.URL.Path + "?" + q.Encode())
	}
	v := pickerView{Title: "微信授权 (OA " + a.scope + ")", Query: filter}
	for k, vals := range r.URL.Query() {
		if k != "q" && len(vals) > 0 {
			v.Hidden = append(v.Hidden, [2]string{k, vals[0]})
		}
	}
	s.mu.Lock()
	if a.wecom {
		v.Title = "企业微信授权 (" + a.scope + ")"
		for _, e := range s.w.Employees {
			if len(v.Employees) < 50 && matches(filter, e.UserID, e.Name) {
				v.Employees = append(v.Employees, pickOption{e.Name, e.UserID, link(e.UserID)})
			}
		}
	}
	for _, p := range s.w.People {
		if len(v.People) < 50 && matches(filter, p.ID, p.Nickname, p.Phone) {
			v.People = append(v.People, pickOption{p.Nickname, p.ID, link(p.ID)})
		}
	}
	s.mu.Unlock()
	if !a.wecom && a.scope == scopeUserInfo {
		q := r.URL.Query()
		q.Set("sandbox_refuse", "1")
		v.RefuseHref = r.URL.Path + "?" + q.Encode()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, v)
}

func matches(filter string, fields ...string) bool {
	if filter == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), filter) {
			return true
		}
	}
	return false
}

const pickerHTML = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title><link rel="stylesheet" href="/assets/console.css"></head>
<body class="picker"><h1>{{.Title}}</h1>
<p class="hint">Sandbox: pick who is logging in. Headless tests add <code>sandbox_pick=&lt;id&gt;</code> to this URL.</p>
<form method="get">{{range .Hidden}}<input type="hidden" name="{{index . 0}}" value="{{index . 1}}">{{end}}<input name="q" value="{{.Query}}" placeholder="search name / id / phone" data-testid="picker-search"></form>
{{if .Employees}}<h2>员工 Employees</h2><ul>{{range .Employees}}<li><a data-testid="pick-employee" href="{{.Href}}">{{.Label}}</a> <small>{{.Detail}}</small></li>{{end}}</ul>{{end}}
<h2>微信用户 WeChat users</h2><ul>{{range .People}}<li><a data-testid="pick-person" href="{{.Href}}">{{.Label}}</a> <small>{{.Detail}}</small></li>{{else}}<li>none yet: create some in the console</li>{{end}}</ul>
{{if .RefuseHref}}<p><a data-testid="refuse" href="{{.RefuseHref}}">拒绝 Refuse</a></p>{{end}}
</body></html>`
