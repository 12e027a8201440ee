package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
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

// sidebarApp is the app's sidebar wired to an in-process sandbox, served
// by httptest, the way demo mode wires it.
type sidebarApp struct {
	URL    string
	SB     *sandbox.Sandbox
	DB     *sqlx.DB
	IDs    *services.IdentityService
	Forms  *services.FormService
	Cache  *wecom.MemoryCache
	Key    []byte // session key
	Svc    *services.SidebarService
	Client *wecom.Client
	Tasks  *services.TaskService
	CorpID string
	OAApp  string
	MPApp  string
}

type sidebarOpts struct {
	noShim bool // production-like: no shim, a real WeCom client is required
	db     *sqlx.DB
	pingDB bool // GET /pingdb runs SELECT 1: the benchmarks' baseline
}

func startSidebarApp(t testing.TB, o sidebarOpts) *sidebarApp {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 7, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	so, su := sb.Options(), sb.URLs()
	cache := wecom.NewMemoryCache()
	cl, err := wecom.New(wecom.Config{CorpID: so.Corp.CorpID, AgentID: so.Corp.AgentID, AgentSecret: so.Corp.AgentSecret,
		ContactsSyncSecret: so.Corp.ContactSecret, WeComBaseURL: su.WeComAPI, OABaseURL: su.OfficialAPI, OAuthBaseURL: su.OAuth,
		OA: wecom.OAConfig{AppID: so.Official.AppID, Secret: so.Official.Secret}, MP: wecom.MPConfig{AppID: so.MiniProgram.AppID, Secret: so.MiniProgram.Secret}},
		cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := o.db
	if db == nil {
		db = pgtest.NewDB(t)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := pii.NewBox(map[byte][]byte{1: key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := web.NewEngine(web.Options{ErrorPage: errorpage.Page, FrameAncestors: frameAncestors,
		RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(engine)
	app := &sidebarApp{URL: "http://" + srv.Listener.Addr().String(), SB: sb, DB: db, Cache: cache, Key: key,
		CorpID: so.Corp.CorpID, OAApp: so.Official.AppID, MPApp: so.MiniProgram.AppID}
	audit := services.NewAuditService(db)
	app.IDs = services.NewIdentityService(db, box)
	svc := services.NewSidebarService(db, box, app.IDs, audit)
	app.Svc, app.Client = svc, cl
	app.Tasks = services.NewTaskService(db, audit, services.NewFormService(db, audit, app.URL), handlers.FixedWeChat{Client: cl}, app.URL)
	app.Forms = services.NewFormService(db, audit, app.URL)
	deps := handlers.SidebarDeps{Service: svc, WeChat: handlers.FixedWeChat{Client: cl}, BaseURL: app.URL,
		App: func(context.Context) (handlers.WeComApp, error) {
			return handlers.WeComApp{CorpID: so.Corp.CorpID, AgentID: so.Corp.AgentID}, nil
		},
		Materials: services.NewSidebarMaterials(svc, app.Forms, services.NewAttributor(pii.DeriveKey(key, "attribution")), app.URL).
			UseTasks(services.NewTaskService(db, audit, app.Forms, handlers.FixedWeChat{Client: cl}, app.URL))}
	if !o.noShim {
		deps.ShimURL = "/sandbox/ww-shim.js"
		engine.Any("/sandbox/*path", gin.WrapH(http.StripPrefix("/sandbox", sb.ShimHandler())))
	}
	if o.pingDB {
		engine.GET("/pingdb", func(c *gin.Context) {
			var one int
			if err := db.QueryRowContext(c.Request.Context(), `SELECT 1`).Scan(&one); err != nil {
				c.Status(http.StatusServiceUnavailable)
				return
			}
			c.String(http.StatusOK, "ok")
		})
	}
	handlers.Register(engine, handlers.Deps{Assets: assets, DB: db, SessionKey: key, Sidebar: deps})
	srv.Start()
	t.Cleanup(srv.Close)
	return app
}

// noRedirect is an HTTP client with a cookie jar that shows redirects.
func noRedirect() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// withPick adds the sandbox's sandbox_pick to an OAuth URL (before its
// #wechat_redirect fragment): the sandbox then answers without a click.
func withPick(oauthURL, userID string) string {
	u, frag, _ := strings.Cut(oauthURL, "#")
	return u + "&sandbox_pick=" + url.QueryEscape(userID) + "#" + frag
}

// signIn runs the staff OAuth round trip for userID; c then holds ma_staff.
func (a *sidebarApp) signIn(t testing.TB, c *http.Client, userID string) {
	t.Helper()
	loc := expectRedirect(t, c, a.URL+"/sidebar", http.StatusFound)
	back := expectRedirect(t, c, withPick(loc, userID), http.StatusFound)
	if got := expectRedirect(t, c, back, http.StatusSeeOther); got != "/sidebar" {
		t.Fatalf("after OAuth: %s", got)
	}
}

func expectRedirect(t testing.TB, c *http.Client, u string, status int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("User-Agent", "wxwork/4.1.30 test")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %.300s", u, resp.StatusCode, status, body)
	}
	return resp.Header.Get("Location")
}

func get(t testing.TB, c *http.Client, u string, htmx bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("User-Agent", "wxwork/4.1.30 test")
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// customer makes a WeChat person, the customer of employee, in the sandbox.
func (a *sidebarApp) customer(t testing.TB, employee, nickname, phone string) (sandbox.WeChatUser, string) {
	t.Helper()
	p, err := a.SB.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: nickname, Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	in := sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: employee}
	if phone != "" {
		in.RemarkMobiles = []string{phone}
	}
	added, err := a.SB.AddCustomer(in)
	if err != nil {
		t.Fatal(err)
	}
	return p, added.ExternalUserID
}

func (a *sidebarApp) employee(t testing.TB, userID, name string) {
	t.Helper()
	if _, err := a.SB.CreateEmployee(sandbox.NewEmployee{UserID: userID, Name: name}); err != nil {
		t.Fatal(err)
	}
}
