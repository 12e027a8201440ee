package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
)

// wecomRuntime is the connection machinery of a running server: settings,
// the client provider with its shared token cache, the callback inbox and
// its workers, and in demo mode the in-process sandbox.
type wecomRuntime struct {
	log      *slog.Logger
	settings *services.SettingsService
	provider *services.WeChatProvider
	inbox    *services.InboxService
	proc     *services.EventProcessor
	worker   *services.InboxWorker
	demo     *demo     // nil unless demo mode
	redis    io.Closer // the token cache's client when REDIS_URL is set
	// memberTags syncs member levels to WeCom corp tags (page and worker).
	memberTags *services.MemberTagService
	// oaReplies answers OA QR code scans (set by buildEngine before register)
	oaReplies handlers.PassiveReplies
	// templateSends runs OA template message sends, resuming any left by a
	// crashed instance (set by buildEngine)
	templateSends interface{ RunPending(ctx context.Context) }
	// routes are the GET paths the engine serves, so demo mode prints only
	// links that work (surfaces built concurrently may not be wired yet).
	routes map[string]bool
	// massRefresh follows sent WeCom mass messages (set by buildEngine)
	massRefresh interface {
		RunRefresher(ctx context.Context, interval time.Duration, log *slog.Logger)
	}

	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
}

// startWeCom builds the connection services and, when the configuration
// asks for it, starts the demo sandbox (before the server listens, so the
// provider already points at it).
func startWeCom(ctx context.Context, cfg Config, log *slog.Logger, db *database, secrets Secrets, shared sharedServices) (*wecomRuntime, error) {
	audit := shared.audit
	w := &wecomRuntime{log: log, settings: services.NewSettingsService(db.DB, secrets.PII, audit)}
	w.provider = services.NewWeChatProvider(w.settings, db.DB, secrets.PII, log)
	w.redis = useRedisCache(ctx, cfg, log, secrets, w.provider)
	w.inbox = services.NewInboxService(db.DB, secrets.PII, audit)
	w.proc = services.NewEventProcessor(db.DB, secrets.PII, shared.ids, w.provider, log)
	w.worker = services.NewInboxWorker(w.inbox, w.proc, log)
	w.memberTags = services.NewMemberTagService(db.DB, audit, w.provider, log)
	d, err := startDemo(ctx, cfg, log, db, w)
	if err != nil {
		return nil, err
	}
	w.demo = d
	return w, nil
}

// sandbox returns the demo sandbox, or nil outside demo mode.
func (w *wecomRuntime) sandbox() *sandbox.Sandbox {
	if w.demo == nil {
		return nil
	}
	return w.demo.sb
}

// handlerDeps are the handlers' view of the runtime.
func (w *wecomRuntime) handlerDeps(base string) handlers.WeComDeps {
	d := handlers.WeComDeps{Settings: w.settings, Connections: w.provider, Tester: w.provider, Inbox: w.inbox,
		InboxAdmin: w.inbox, WakeInbox: w.worker.Wake, BaseURL: base, OAReplies: w.oaReplies}
	if w.demo != nil {
		d.SandboxShim = w.demo.sb.ShimHandler()
	}
	return d
}

// register installs the connection routes on the engine.
func (w *wecomRuntime) register(e *gin.Engine, deps handlers.Deps, base string) {
	handlers.RegisterWeCom(e, deps, w.handlerDeps(base))
	w.routes = map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == "GET" {
			w.routes[r.Path] = true
		}
	}
}

// landing lists the sandbox console on the landing page in demo mode.
func (w *wecomRuntime) landing() []handlers.LandingLink {
	if w.demo == nil {
		return nil
	}
	return []handlers.LandingLink{{Title: "沙箱控制台", URL: w.demo.sb.URLs().Control + "/",
		Description: "演示模式：本地模拟的企业微信 / 公众号。添加客户、关注公众号、查看回调与发出的消息"}}
}

// massRefreshEvery is how often sent mass messages' results are read from
// WeCom (employees confirm within hours; each refresh is a few calls).
const massRefreshEvery = 5 * time.Minute

// start runs the inbox workers and, in demo mode, finishes the demo setup
// (callback URLs need this server to answer) and prints where to click.
func (w *wecomRuntime) start(ctx context.Context, base string, stdout io.Writer) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.stopWorkers = cancel
	w.workers.Add(1)
	go func() { defer w.workers.Done(); w.worker.Run(wctx) }()
	if w.templateSends != nil {
		w.workers.Add(1)
		go func() { defer w.workers.Done(); w.templateSends.RunPending(wctx) }()
	}
	if w.massRefresh != nil {
		w.workers.Add(1)
		go func() { defer w.workers.Done(); w.massRefresh.RunRefresher(wctx, massRefreshEvery, w.log) }()
	}
	if w.demo != nil {
		w.workers.Add(1)
		go func() { defer w.workers.Done(); w.demo.finish(wctx, base, stdout) }()
	}
}

// Close stops the workers (letting items in hand finish) and the sandbox.
func (w *wecomRuntime) Close(ctx context.Context) {
	if w.stopWorkers != nil {
		w.stopWorkers()
	}
	w.workers.Wait()
	if w.redis != nil {
		_ = w.redis.Close()
	}
	if w.demo != nil {
		if err := w.demo.sb.Close(ctx); err != nil {
			w.log.Warn("demo: closing the sandbox", "err", err)
		}
	}
}
