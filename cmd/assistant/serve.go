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
	"github.com/marketing-assistant/assistant/services/pii"
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
	if err := services.WarmPool(ctx, db.DB, warmConns); err != nil {
		log.Warn("database: could not open the pool's connections ahead of traffic", "err", err)
	}
	go services.KeepPoolWarm(ctx, db.DB, warmConns, idleConnLife/2)
	internal, err := parseInternal(cfg, getenv(internalVar))
	if err != nil {
		return err
	}
	shared := newSharedServices(db, secrets)
	wc, err := startWeCom(ctx, cfg, log, db, secrets, shared)
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
	engine, err := buildEngine(cfg, log, db, secrets, wc, shared)
	if err != nil {
		ln.Close()
		return err
	}
	printBanner(stdout, cfg, ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL)
	wc.start(ctx, cfg.BaseURL, stdout)
	defer startAutomation(ctx, log, db, shared, wc, cfg.BaseURL)()
	defer startMemberTags(ctx, wc)()
	err = web.ServeWithTimeouts(ctx, ln, engine, 15*time.Second, internal.timeouts)
	log.Info("server stopped")
	return err
}

// sharedServices are built once per process: several surfaces use them,
// and they hold caches (the identity engine's blocklist and prepared
// statements) that copies would only duplicate.
type sharedServices struct {
	audit *services.AuditService
	ids   *services.IdentityService
}

func newSharedServices(db *database, secrets Secrets) sharedServices {
	return sharedServices{audit: services.NewAuditService(db.DB), ids: services.NewIdentityService(db.DB, secrets.PII)}
}

// buildEngine wires services and handlers onto the web engine. Services that
// embed BASE_URL are built here, once the listening address is known.
func buildEngine(cfg Config, log *slog.Logger, db *database, secrets Secrets, wc *wecomRuntime, shared sharedServices) (*gin.Engine, error) {
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
	audit, ids := shared.audit, shared.ids
	staff := services.NewStaffDirectory(db.DB, services.NewRoleService(db.DB, audit))
	// One of each: the admin service hashes a password at construction (its
	// timing equaliser) and the form service caches published forms.
	admins := handlers.StaffAccounts{AdminAccounts: services.NewAdminService(db.DB, audit), WeComStaff: staff}
	forms := services.NewFormService(db.DB, audit, cfg.BaseURL)
	segments := services.NewSegmentService(db.DB, audit)
	tasks := services.NewTaskService(db.DB, audit, forms, wc.provider, cfg.BaseURL).WithSegments(segments)
	massmsgs := services.NewMassMessageService(db.DB, audit, segments, forms,
		services.NewAttributor(pii.DeriveKey(secrets.Master, "attribution")), wc.provider, cfg.BaseURL)
	wc.massRefresh = massmsgs
	// OA channel QR codes: their pages, and the replies the OA callback answers scans with.
	oaqr := services.NewOAQRCodeService(db.DB, audit, services.NewAttributor(pii.DeriveKey(secrets.Master, "attribution")), cfg.BaseURL)
	wc.oaReplies = oaqr
	// OA template messages; their sends run in the background (wc.start).
	tmsgs := services.NewTemplateMessageService(db.DB, audit, segments, services.NewAttributor(pii.DeriveKey(secrets.Master, "attribution")),
		cfg.BaseURL, func(ctx context.Context) (services.TemplateClient, error) { return wc.provider.WeChat(ctx) })
	wc.templateSends = tmsgs
	handlers.Register(engine, handlers.Deps{
		Log: log, Version: version, Assets: assets, DB: db.DB, Landing: wc.landing(),
		SessionKey: secrets.Session, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		Admins:     admins,
		Audit:      audit,
		Identities: ids, APIKeys: services.NewAPIKeyService(db.DB),
		Console: handlers.ConsoleDeps{Users: services.NewConsoleService(db.DB, secrets.PII, ids, audit), Staff: staff,
			Dashboard: services.NewDashboardService(db.DB), WeChat: wc.provider, BaseURL: cfg.BaseURL, Automation: newAutomation(db, shared, wc, cfg.BaseURL),
			Tasks:     tasks,
			Members:   services.NewMemberService(db.DB, audit),
			Lifecycle: services.NewLifecycleService(db.DB, secrets.PII, audit),
			Segments:  segments, MassMessages: massmsgs,
			OAQR: oaqr, MemberTags: wc.memberTags, TemplateMsgs: tmsgs},
		Forms:   formDeps(cfg, db, secrets, shared, forms, wc.provider, wc.sandbox()),
		Sync:    syncDeps(cfg, db, secrets, ids, wc),
		Sidebar: sidebarDeps(cfg, db, secrets, shared, forms, tasks, wc),
	})
	wc.register(engine, handlers.Deps{SessionKey: secrets.Session, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		Admins: admins, Audit: audit}, cfg.BaseURL)
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
