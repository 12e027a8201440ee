package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/static"
	"github.com/marketing-assistant/assistant/views/errorpage"
	"github.com/marketing-assistant/assistant/views/layout"
	"github.com/marketing-assistant/assistant/web"
)

// frameAncestors are the WeCom and WeChat web clients that may embed our pages.
var frameAncestors = []string{"https://*.weixin.qq.com", "https://*.qq.com"}

func runServe(ctx context.Context, stdout io.Writer, _ []string, getenv func(string) string) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	secrets, err := loadSecrets(cfg, log)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, log, ownCluster)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.migrate(ctx); err != nil {
		return err
	}
	internal, err := parseInternal(cfg, getenv(internalVar))
	if err != nil {
		return err
	}
	wc, err := startWeCom(ctx, cfg, log, db, secrets)
	if err != nil {
		return err
	}
	defer wc.Close(context.WithoutCancel(ctx))
	internal.apply(wc)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.baseURLDerived {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	engine, err := buildEngine(cfg, log, db, secrets, wc)
	if err != nil {
		ln.Close()
		return err
	}
	printBanner(stdout, cfg, ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL)
	wc.start(ctx, cfg.BaseURL, stdout)
	err = web.ServeWithTimeouts(ctx, ln, engine, 15*time.Second, internal.timeouts)
	log.Info("server stopped")
	return err
}

// buildEngine wires services and handlers onto the web engine.
func buildEngine(cfg Config, log *slog.Logger, db *database, secrets Secrets, wc *wecomRuntime) (*gin.Engine, error) {
	assets, err := static.New()
	if err != nil {
		return nil, err
	}
	engine, err := web.NewEngine(web.Options{
		Log:            log,
		TrustedProxies: cfg.TrustedProxies,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		ErrorPage:      errorpage.Page,
		FrameAncestors: frameAncestors,
		RequestContext: func(ctx context.Context) context.Context { return layout.WithAssets(ctx, assets) },
	})
	if err != nil {
		return nil, err
	}
	audit := services.NewAuditService(db.DB)
	ids := services.NewIdentityService(db.DB, secrets.PII)
	staff := services.NewStaffDirectory(db.DB, services.NewRoleService(db.DB, audit))
	handlers.Register(engine, handlers.Deps{
		Log: log, Version: version, Assets: assets, DB: db.DB, Landing: wc.landing(),
		SessionKey: secrets.Session, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		Admins:     handlers.StaffAccounts{AdminAccounts: services.NewAdminService(db.DB, audit), WeComStaff: staff},
		Audit:      audit,
		Identities: ids, APIKeys: services.NewAPIKeyService(db.DB),
		Console: handlers.ConsoleDeps{Users: services.NewConsoleService(db.DB, secrets.PII, ids, audit), Staff: staff,
			Dashboard: services.NewDashboardService(db.DB), WeChat: wc.provider, BaseURL: cfg.BaseURL,
			Tasks:     services.NewTaskService(db.DB, audit, services.NewFormService(db.DB, audit, cfg.BaseURL), wc.provider, cfg.BaseURL),
			Members:   services.NewMemberService(db.DB, audit),
			Lifecycle: services.NewLifecycleService(db.DB, secrets.PII, audit)},
		Forms:   formDeps(cfg, db, secrets, audit, wc.provider, wc.sandbox()),
		Sync:    syncDeps(cfg, db, secrets, ids, wc),
		Sidebar: sidebarDeps(cfg, db, secrets, audit, ids, wc),
	})
	wc.register(engine, handlers.Deps{SessionKey: secrets.Session, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		Admins: handlers.StaffAccounts{AdminAccounts: services.NewAdminService(db.DB, audit), WeComStaff: staff}, Audit: audit}, cfg.BaseURL)
	return engine, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// printBanner tells the person who started the server where to click.
func printBanner(w io.Writer, cfg Config, addr net.Addr) {
	base := cfg.BaseURL
	fmt.Fprintf(w, "\nMarketing Assistant %s listening on http://%s\n", version, addr)
	fmt.Fprintf(w, "  landing page   %s/\n", base)
	fmt.Fprintf(w, "  admin console  %s/admin\n", base)
	fmt.Fprintf(w, "  sidebar        %s/sidebar\n", base)
	fmt.Fprintf(w, "  readiness      %s/readyz\n\n", base)
}

// syncDeps wires the sync and channel pages; the channels also give the
// callback worker its welcome messages (set before the workers start).
func syncDeps(cfg Config, db *database, secrets Secrets, ids *services.IdentityService, wc *wecomRuntime) handlers.SyncDeps {
	channels := services.NewChannelService(db.DB, cfg.BaseURL)
	if wc.proc != nil && wc.proc.Welcomes == nil {
		wc.proc.Welcomes = channels
	}
	return handlers.SyncDeps{Jobs: services.NewSyncService(db.DB, secrets.PII, ids, wc.log),
		Targets: services.ConnectionTargets{Conn: wc.provider}, Channels: channels}
}
