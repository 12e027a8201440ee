package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/marketing-assistant/assistant/services"
)

// runSync runs one sync in the foreground with the saved settings:
//
//	assistant sync employees|tags|contacts|groups|fans [--wecom-base-url URL --oa-base-url URL]
//
// The base URLs point it at a standalone sandbox (`assistant sandbox`).
// An interrupted sync (Ctrl-C) resumes from its checkpoint at the next run.
func runSync(ctx context.Context, stdout io.Writer, args []string, getenv func(string) string) error {
	usage := fmt.Errorf("%w: sync employees|tags|contacts|groups|fans [--wecom-base-url URL] [--oa-base-url URL]", errUsage)
	if len(args) == 0 || !services.SyncKind(args[0]).Valid() {
		return usage
	}
	kind := services.SyncKind(args[0])
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stdout)
	wecomURL := fs.String("wecom-base-url", "", "WeCom API base URL (default the real host)")
	oaURL := fs.String("oa-base-url", "", "Official Account API base URL (default the real host)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return withServices(ctx, stdout, getenv, func(ts *toolServices) error {
		return syncOnce(ctx, stdout, ts, kind, strings.TrimRight(*wecomURL, "/"), strings.TrimRight(*oaURL, "/"))
	})
}

// syncOnce runs one sync of kind to its end and prints the report.
func syncOnce(ctx context.Context, stdout io.Writer, ts *toolServices, kind services.SyncKind, wecomURL, oaURL string) error {
	db, secrets, log := ts.db, ts.secrets, ts.log
	provider := services.NewWeChatProvider(services.NewSettingsService(db.DB, secrets.PII, services.NewAuditService(db.DB)),
		db.DB, secrets.PII, log)
	if rc := useRedisCache(ctx, ts.cfg, log, secrets, provider); rc != nil {
		defer rc.Close() // the same token cache as the servers: no token of its own
	}
	if wecomURL != "" || oaURL != "" {
		provider.SetBaseURLs(services.WeChatBaseURLs{WeCom: wecomURL, Official: oaURL})
	}
	t, err := services.ConnectionTargets{Conn: provider}.SyncTarget(ctx)
	if err != nil {
		return err
	}
	svc := services.NewSyncService(db.DB, secrets.PII, services.NewIdentityService(db.DB, secrets.PII), log)
	fmt.Fprintf(stdout, "syncing %s (%s) for corp %s…\n", kind, kind.Label(), t.CorpID)
	began := time.Now()
	j, err := svc.Run(ctx, t, kind, "cli")
	if err != nil {
		return err
	}
	if j.State != services.SyncDone {
		return fmt.Errorf("sync %s stopped (%s); run it again to resume from the checkpoint", kind, j.Error)
	}
	rep, _ := j.Report()
	fmt.Fprintf(stdout, "done in %s: %d received, %d changed, %d retries\n%s\n",
		time.Since(began).Round(time.Millisecond), j.Received, j.Changed, j.Retries, rep.Summary())
	return nil
}
