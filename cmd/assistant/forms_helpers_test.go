package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

// formsEnv is the app's engine wired like buildEngine, with the forms
// talking to an in-process WeChat sandbox, served on a local port.
type formsEnv struct {
	URL   string
	DB    *sqlx.DB
	SB    *sandbox.Sandbox
	Forms *services.FormService
	Subs  *services.SubmissionService
	Attr  *services.Attributor
	IDs   *services.IdentityService
	Admin *services.AdminService
	SMS   *services.SandboxSMS
}

type formsEnvOptions struct {
	db       *sqlx.DB // shared database (benchmarks); nil: a fresh one
	baseline bool     // plain insert instead of the link (benchmark yardstick)
	noLog    bool
}

func testPII(t testing.TB) (*pii.Box, []byte) {
	t.Helper()
	master := bytes.Repeat([]byte{42}, 32)
	box, err := pii.NewBox(map[byte][]byte{1: master}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return box, master
}

// newFormsEnv starts the sandbox and the app. The server trusts
// X-Forwarded-For from 127.0.0.1, so tests can play many clients.
func newFormsEnv(t testing.TB, o formsEnvOptions) *formsEnv {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	u, so := sb.URLs(), sb.Options()
	cl, err := wecom.New(wecom.Config{CorpID: so.Corp.CorpID, AgentID: so.Corp.AgentID, AgentSecret: so.Corp.AgentSecret,
		OA:           wecom.OAConfig{AppID: so.Official.AppID, Secret: so.Official.Secret},
		MP:           wecom.MPConfig{AppID: so.MiniProgram.AppID, Secret: so.MiniProgram.Secret},
		WeComBaseURL: u.WeComAPI, OABaseURL: u.OfficialAPI, OAuthBaseURL: u.OAuth}, wecom.NewMemoryCache(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := o.db
	if db == nil {
		db = pgtest.NewDB(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	env := &formsEnv{URL: base, DB: db, SB: sb, SMS: &services.SandboxSMS{}}
	engine := env.engine(t, base, handlers.FixedWeChat{Client: cl}, o)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: engine}}
	srv.Start()
	t.Cleanup(srv.Close)
	return env
}

func (env *formsEnv) engine(t testing.TB, base string, wc handlers.WeChatClients, o formsEnvOptions) http.Handler {
	t.Helper()
	box, master := testPII(t)
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := web.NewEngine(web.Options{Log: log, TrustedProxies: []string{"127.0.0.1"}, MaxBodyBytes: 1 << 20,
		ErrorPage: errorpage.Page, RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) }})
	if err != nil {
		t.Fatal(err)
	}
	audit := services.NewAuditService(env.DB)
	env.IDs = services.NewIdentityService(env.DB, box)
	env.Forms = services.NewFormService(env.DB, audit, base)
	env.Attr = services.NewAttributor(pii.DeriveKey(master, "attribution"))
	sms := services.NewSMSService(env.DB, box, env.SMS, services.SMSConfig{})
	env.Subs = services.NewSubmissionService(services.SubmissionDeps{DB: env.DB, PII: box, Identities: env.IDs,
		Forms: env.Forms, Attribution: env.Attr, SMS: sms, Audit: audit},
		services.SubmissionConfig{BaselineInsert: o.baseline, PhoneBurst: 1000})
	env.Admin = services.NewAdminService(env.DB, audit)
	handlers.Register(e, handlers.Deps{Log: log, Assets: assets, DB: env.DB, SessionKey: bytes.Repeat([]byte{9}, 32),
		Admins: env.Admin, Audit: audit,
		Forms: handlers.FormDeps{BaseURL: base, WeChat: wc, Forms: env.Forms, Submissions: env.Subs, SMS: sms}})
	return e
}

// createForm saves a published form with a name, a company and a choice.
func (env *formsEnv) createForm(t testing.TB, mod func(*services.FormInput)) services.Form {
	t.Helper()
	in := services.FormInput{Title: "春季发布会报名", Description: "名额有限", ConsentText: "我同意为报名使用我的信息",
		PrivacyURL: "https://ma.example.com/privacy", SuccessMessage: "报名成功！", Published: true,
		Fields: []services.Field{{Kind: services.FieldName, Label: "姓名", Required: true},
			{Kind: services.FieldCompany, Label: "公司"},
			{Kind: services.FieldSingle, Label: "参会方式", Options: []string{"线上", "线下"}}}}
	if mod != nil {
		mod(&in)
	}
	f, err := env.Forms.CreateForm(context.Background(), in, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (env *formsEnv) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := env.DB.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// wechatPerson creates a WeChat user in the sandbox who follows the OA.
func (env *formsEnv) wechatPerson(t testing.TB, name, phone string, follow bool) sandbox.WeChatUser {
	t.Helper()
	p, err := env.SB.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: name, Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	if follow {
		if err := env.SB.Subscribe(sandbox.OAEventInput{WeChatUser: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// browser is a cookie-keeping HTTP client with a user agent. When pick is
// set, the sandbox's OAuth page answers at once for that person.
type browser struct {
	t      testing.TB
	c      *http.Client
	ua     string
	pick   string
	oauth  string // last OAuth return URL seen (code and state)
	noAuto bool
}

const wechatUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322e) NetType/WIFI Language/zh_CN"

func newBrowser(t testing.TB, ua string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, ua: ua}
	b.c = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if b.noAuto {
			return http.ErrUseLastResponse
		}
		if strings.HasSuffix(req.URL.Path, "/connect/oauth2/authorize") && b.pick != "" {
			q := req.URL.Query()
			q.Set("sandbox_pick", b.pick)
			req.URL.RawQuery = q.Encode()
		}
		if strings.HasSuffix(req.URL.Path, "/oauth") && strings.HasPrefix(req.URL.Path, "/f/") {
			b.oauth = req.URL.String()
		}
		req.Header.Set("User-Agent", b.ua)
		return nil
	}}
	return b
}

func (b *browser) do(method, u string, form url.Values) (int, string, *http.Response) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", b.ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp
}

func (b *browser) get(u string) (int, string) {
	s, body, _ := b.do(http.MethodGet, u, nil)
	return s, body
}

var tokenRE = regexp.MustCompile(`name="t" value="([^"]+)"`)

// pageToken returns the one-time token of a rendered form.
func pageToken(t testing.TB, page string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no token in page: %.400s", page)
	}
	return m[1]
}
