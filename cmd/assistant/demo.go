package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
)

// demo is demo mode (issue 4, deliverable 7): with nothing connected, the app
// runs against the in-process sandbox, seeded once with a demo corp. The
// sandbox state survives restarts in DATA_DIR/sandbox.json.
type demo struct {
	sb   *sandbox.Sandbox
	cfg  Config
	log  *slog.Logger
	db   *database
	w    *wecomRuntime
	done chan struct{} // closed when finish has printed the links
}

// demoSeed is the demo corp: 8 employees in 3 departments, 300 WeChat
// people who are customers, fans and mini-program users in overlapping
// sets, a third of them with a phone.
var demoSeed = sandbox.SeedInput{Departments: 3, Employees: 8, WeChatUsers: 300, ContactsPerEmployee: 30,
	Fans: 180, MPUsers: 120, Overlap: 0.6, PhoneRatio: 1.0 / 3, Tags: true}

// startDemo starts the sandbox when SANDBOX asks for it: "on" always, "auto"
// when no credentials are saved (or the saved ones are the demo's).
func startDemo(ctx context.Context, cfg Config, log *slog.Logger, db *database, w *wecomRuntime) (*demo, error) {
	if cfg.Sandbox == "off" || cfg.Production() {
		return nil, nil
	}
	saved, err := w.settings.Settings(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Sandbox == "auto" && !saved.Sandbox && (saved.WeComConfigured() || saved.OAConfigured()) {
		return nil, nil
	}
	sb, err := sandbox.Start(ctx, sandbox.Options{SnapshotPath: filepath.Join(cfg.DataDir, "sandbox.json"),
		Logger: log.With("component", "sandbox")})
	if err != nil {
		return nil, fmt.Errorf("demo: start sandbox: %w", err)
	}
	want := sandboxSettings(sb.Options())
	if !sameCredentials(saved, want) {
		if _, err := w.settings.SaveSandboxSettings(ctx, want); err != nil {
			_ = sb.Close(ctx)
			return nil, err
		}
	}
	u := sb.URLs()
	w.provider.SetBaseURLs(services.WeChatBaseURLs{WeCom: u.WeComAPI, Official: u.OfficialAPI, OAuth: u.OAuth})
	log.Info("demo mode: running against the in-process sandbox", "console", u.Control)
	return &demo{sb: sb, cfg: cfg, log: log, db: db, w: w, done: make(chan struct{})}, nil
}

// sandboxSettings are the app settings matching the sandbox's credentials.
func sandboxSettings(o sandbox.Options) services.WeComSettings {
	return services.WeComSettings{CorpID: o.Corp.CorpID, AppMode: services.AppModeSelfBuilt, AgentID: o.Corp.AgentID,
		AgentSecret: o.Corp.AgentSecret, ContactsSyncSecret: o.Corp.ContactSecret, CallbackToken: o.Corp.Token,
		CallbackAESKey: o.Corp.EncodingAESKey, OAAppID: o.Official.AppID, OASecret: o.Official.Secret,
		OAToken: o.Official.Token, OAAESKey: o.Official.EncodingAESKey, OAMessageMode: o.Official.Mode,
		MPAppID: o.MiniProgram.AppID, MPSecret: o.MiniProgram.Secret}
}

func sameCredentials(a, b services.WeComSettings) bool {
	return a.Sandbox && a.CorpID == b.CorpID && a.AgentID == b.AgentID && a.AgentSecret == b.AgentSecret &&
		a.ContactsSyncSecret == b.ContactsSyncSecret && a.CallbackToken == b.CallbackToken &&
		a.CallbackAESKey == b.CallbackAESKey && a.OAAppID == b.OAAppID && a.OASecret == b.OASecret &&
		a.OAToken == b.OAToken && a.OAAESKey == b.OAAESKey && a.OAMessageMode == b.OAMessageMode &&
		a.MPAppID == b.MPAppID && a.MPSecret == b.MPSecret
}

// finish runs once the server answers: it points the sandbox's callbacks at
// this server (the sandbox verifies the URL first), seeds and imports the
// demo corp the first time, makes sure a demo admin exists, and prints where
// to click.
func (d *demo) finish(ctx context.Context, base string, stdout io.Writer) {
	defer close(d.done)
	if err := d.setUp(ctx, base); err != nil {
		if ctx.Err() == nil {
			d.log.Error("demo: setup failed", "err", err)
			fmt.Fprintf(stdout, "demo mode: setup failed: %v\n", err)
		}
		return
	}
	name, password, err := d.demoAdmin(ctx)
	if err != nil {
		d.log.Error("demo: admin account", "err", err)
	}
	d.print(ctx, stdout, base, name, password)
}

func (d *demo) setUp(ctx context.Context, base string) error {
	if err := d.sb.SetWeComCallback(ctx, base+"/callbacks/wecom"); err != nil {
		return fmt.Errorf("wecom callback URL: %w", err)
	}
	if err := d.sb.SetOACallback(ctx, base+"/callbacks/oa"); err != nil {
		return fmt.Errorf("OA callback URL: %w", err)
	}
	if d.sb.State().Counts["employees"] == 0 {
		res, err := d.sb.Seed(demoSeed)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		d.log.Info("demo: seeded the sandbox", "employees", res.Employees, "people", res.WeChatUsers, "contacts", res.Contacts)
		if err := d.sb.SaveSnapshot(); err != nil {
			d.log.Warn("demo: snapshot", "err", err)
		}
	}
	if err := d.importOnce(ctx); err != nil {
		return err
	}
	return d.sampleFormOnce(ctx, base)
}

// sampleFormOnce publishes one registration form when the app has none, so
// the demo always has a micro-page to open as a WeChat person and to send
// from the sidebar. An admin's own forms are never touched.
func (d *demo) sampleFormOnce(ctx context.Context, base string) error {
	var n int
	if err := d.db.DB.GetContext(ctx, &n, `SELECT count(*) FROM forms`); err != nil {
		return fmt.Errorf("sample form: %w", err)
	}
	if n > 0 {
		return nil
	}
	forms := services.NewFormService(d.db.DB, services.NewAuditService(d.db.DB), base)
	_, err := forms.CreateForm(ctx, services.FormInput{
		Title:       "新品体验会报名",
		Description: "留下手机号，顾问会在活动前与您确认时间。",
		Fields: []services.Field{{Key: "name", Kind: services.FieldName, Label: "姓名", Required: true},
			{Key: "company", Kind: services.FieldCompany, Label: "公司"},
			{Key: "city", Kind: services.FieldCity, Label: "城市"}},
		ConsentText:    "我已阅读并同意《个人信息保护政策》，同意企业在活动期间联系我。",
		PrivacyURL:     base + "/",
		SuccessMessage: "报名成功！",
		AfterSubmit:    services.AfterEmployeeQR,
		Published:      true,
	}, "system", "demo")
	if err != nil {
		return fmt.Errorf("sample form: %w", err)
	}
	d.log.Info("demo: published a sample registration form")
	return nil
}

// importOnce imports the demo corp into the app the first time (per corp),
// through the same mirror and identity code as the callbacks.
func (d *demo) importOnce(ctx context.Context) error {
	key := "demo_imported:" + d.sb.Options().Corp.CorpID
	var v string
	err := d.db.DB.GetContext(ctx, &v, `SELECT value FROM app_meta WHERE key = $1`, key)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("import marker: %w", err)
	}
	st, err := d.w.proc.Import(ctx)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	d.log.Info("demo: imported the sandbox corp", "employees", st.Employees, "relations", st.Relations,
		"followers", st.Followers, "groups", st.Groups)
	_, err = d.db.DB.ExecContext(ctx, `INSERT INTO app_meta (key, value) VALUES ($1, now()::text)
		ON CONFLICT (key) DO NOTHING`, key)
	return err
}

// demoAdmin makes sure the local account "demo" exists and knows its
// password, kept in DATA_DIR/secrets/demo-admin (0600) so every start can
// print it. Development only: startDemo refuses production.
func (d *demo) demoAdmin(ctx context.Context) (string, string, error) {
	const name = "demo"
	path := filepath.Join(d.cfg.DataDir, "secrets", "demo-admin")
	admins := services.NewAdminService(d.db.DB, services.NewAuditService(d.db.DB))
	if b, err := os.ReadFile(path); err == nil {
		return name, strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	password := base64.RawURLEncoding.EncodeToString(raw)
	_, err := admins.CreateAdmin(ctx, name, password, services.RoleAdmin)
	if services.ErrorCode(err) == services.ECONFLICT {
		err = admins.ResetPassword(ctx, name, password)
	}
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", err
	}
	return name, password, os.WriteFile(path, []byte(password+"\n"), 0o600)
}

// print tells the person who ran `make run` where to click.
func (d *demo) print(ctx context.Context, w io.Writer, base, name, password string) {
	u := d.sb.URLs()
	fmt.Fprintf(w, "\nDemo mode: the app runs against a local WeCom / WeChat sandbox (SANDBOX=off to disable)\n")
	fmt.Fprintf(w, "  landing page   %s/\n", base)
	fmt.Fprintf(w, "  demo admin     %s/admin/login  (user %s, password %s)\n", base, name, password)
	if emp, ext, ok := d.sidebarSample(); ok && d.w.routes["/sidebar"] {
		fmt.Fprintf(w, "  sidebar        %s/sidebar  (as employee %s chatting with customer %s; pick %s on the sandbox sign-in page)\n",
			base, emp.UserID, ext, emp.UserID)
	}
	if slug := d.publishedForm(ctx); slug != "" && d.w.routes["/f/:slug"] {
		if p, ok := d.samplePerson(); ok {
			fmt.Fprintf(w, "  micro-page     %s/f/%s  (open in the sandbox as WeChat person %s, %s)\n", base, slug, p.ID, p.Nickname)
		}
	}
	fmt.Fprintf(w, "  sandbox        %s/  (console: add customers, follow the OA, see callbacks and the outbox)\n", u.Control)
	fmt.Fprintf(w, "  settings       %s/admin/settings\n", base)
	fmt.Fprintf(w, "demo ready\n\n")
}

// sidebarSample picks an employee with customers and opens that chat in the
// shim, so /sidebar in a browser shows a real customer.
func (d *demo) sidebarSample() (sandbox.Employee, string, bool) {
	for _, e := range d.sb.Employees() {
		cs := d.sb.Customers(e.UserID, 1)
		if len(cs) == 0 {
			continue
		}
		ext := cs[0].ExternalUserID
		_ = d.sb.SetSidebarContext(sandbox.SidebarContext{Entry: "single_chat_tools", UserID: e.UserID, ExternalUserID: ext})
		return e, ext, true
	}
	return sandbox.Employee{}, "", false
}

// samplePerson picks a WeChat person for the micro-page link.
func (d *demo) samplePerson() (sandbox.WeChatUser, bool) {
	us := d.sb.WeChatUsers("", 1)
	if len(us) == 0 {
		return sandbox.WeChatUser{}, false
	}
	return us[0], true
}

// publishedForm returns the slug of the newest published form, if the forms
// feature is installed and has one.
func (d *demo) publishedForm(ctx context.Context) string {
	var slug string
	err := d.db.DB.GetContext(ctx, &slug, `SELECT slug FROM forms WHERE published ORDER BY updated_at DESC LIMIT 1`)
	if err != nil {
		return ""
	}
	return slug
}
