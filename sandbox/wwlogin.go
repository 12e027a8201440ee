package sandbox

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"rsc.io/qr"
)

// webLoginHandler stands in for login.work.weixin.qq.com/wwlogin/sso/login,
// the WeCom web (QR code) login page of a self-built app (wechat-protocol.md
// §3.2): login_type=CorpApp, appid = corp id, agentid, redirect_uri, state.
// Nobody scans a sandbox QR code, so the page also lists the employees to
// "scan as"; picking one, or ?sandbox_pick=<userid> (headless tests),
// answers 302 redirect_uri?code=CODE&state=STATE with a WeCom OAuth code that
// auth/getuserinfo exchanges like any other. Only corp members can scan.
func (s *Sandbox) webLoginHandler() http.HandlerFunc {
	page := template.Must(template.New("wwlogin").Parse(webLoginHTML))
	return func(w http.ResponseWriter, r *http.Request) {
		a, problem := s.parseWebLogin(r.URL.Query())
		if problem != "" {
			http.Error(w, problem, http.StatusBadRequest)
			return
		}
		if pick := r.URL.Query().Get("sandbox_pick"); pick != "" {
			s.scanAs(w, r, a, pick)
			return
		}
		s.renderWebLogin(w, r, page)
	}
}

// parseWebLogin checks the parameters the real page insists on.
func (s *Sandbox) parseWebLogin(q url.Values) (authorizeRequest, string) {
	s.mu.Lock()
	corpID, agent := s.opts.Corp.CorpID, strconv.Itoa(s.opts.Corp.AgentID)
	s.mu.Unlock()
	a := authorizeRequest{appID: q.Get("appid"), redirect: q.Get("redirect_uri"), scope: scopeBase,
		state: q.Get("state"), agentID: q.Get("agentid"), wecom: true}
	u, err := url.Parse(a.redirect)
	switch {
	case q.Get("login_type") != "CorpApp":
		return a, "login_type 参数错误 (the sandbox serves self-built apps: CorpApp)"
	case a.appID != corpID:
		return a, "appid 参数错误 (not the sandbox corp id)"
	case a.agentID != agent:
		return a, "agentid 参数错误"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return a, "redirect_uri 参数错误 (must be an absolute http(s) URL)"
	case len(a.state) > 128:
		return a, "state longer than 128 bytes"
	}
	return a, ""
}

// scanAs is the employee's scan and confirmation on their phone.
func (s *Sandbox) scanAs(w http.ResponseWriter, r *http.Request, a authorizeRequest, userID string) {
	s.mu.Lock()
	e := s.w.employee(userID)
	code := ""
	if e != nil {
		code = s.newCode("wecom_oauth", e.UserID, true, a.scope)
	}
	s.mu.Unlock()
	if e == nil {
		http.Error(w, "sandbox_pick: no such employee: "+userID, http.StatusNotFound)
		return
	}
	http.Redirect(w, r, withQuery(a.redirect, url.Values{"code": {code}, "state": {a.state}}), http.StatusFound)
}

type webLoginView struct {
	CorpName string
	QRImage  template.URL // data: PNG
	Scanners []pickOption
}

func (s *Sandbox) renderWebLogin(w http.ResponseWriter, r *http.Request, page *template.Template) {
	v := webLoginView{}
	// The code encodes this page's own address: scanned with a real phone it
	// leads nowhere useful, which is the point of a sandbox.
	if code, err := qr.Encode("sandbox-wwlogin:"+r.URL.RequestURI(), qr.L); err == nil {
		code.Scale = 5
		v.QRImage = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()))
	}
	s.mu.Lock()
	v.CorpName = s.opts.Corp.CorpName
	for _, e := range s.w.Employees {
		if len(v.Scanners) == 50 {
			break
		}
		q := r.URL.Query()
		q.Set("sandbox_pick", e.UserID)
		v.Scanners = append(v.Scanners, pickOption{e.Name, e.UserID, template.URL(r.URL.Path + "?" + q.Encode())})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, v)
}

const webLoginHTML = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>企业微信登录</title><link rel="stylesheet" href="/assets/console.css"></head>
<body class="picker"><h1>企业微信登录</h1>
<p>请使用企业微信扫描二维码登录「{{.CorpName}}」</p>
{{if .QRImage}}<p><img src="{{.QRImage}}" alt="登录二维码" width="200" height="200" data-testid="wwlogin-qr"></p>{{end}}
<p class="hint">Sandbox: nobody scans this code. Pick the employee who scans it; headless tests add <code>sandbox_pick=&lt;userid&gt;</code> to this URL.</p>
<h2>扫码成员 Scan as</h2><ul>{{range .Scanners}}<li><a data-testid="wwlogin-scan-as" href="{{.Href}}">{{.Label}}</a> <small>{{.Detail}}</small></li>{{else}}<li>no employees yet: create some in the console</li>{{end}}</ul>
</body></html>`
