package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// wecomEnv is the app's connection side (settings, provider, inbox,
// processor, workers, callback routes) on a test database, against an
// in-process sandbox whose callbacks point at it.
type wecomEnv struct {
	t        testing.TB
	db       *sqlx.DB
	box      *pii.Box
	sb       *sandbox.Sandbox
	srv      *httptest.Server
	settings *services.SettingsService
	provider *services.WeChatProvider
	inbox    *services.InboxService
	proc     *services.EventProcessor
	worker   *services.InboxWorker
	calls    *callLog
	welcomes *fakeWelcomes
	corp     string
	oaApp    string
	stop     func()
}

// callLog records the API paths the app called, in order.
type callLog struct {
	mu    sync.Mutex
	paths []string
	times []time.Time
}

func (l *callLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.paths = append(l.paths, r.URL.Path)
	l.times = append(l.times, time.Now())
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *callLog) index(path string) (int, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.paths {
		if strings.HasSuffix(p, path) {
			return i, l.times[i]
		}
	}
	return -1, time.Time{}
}

type fakeWelcomes struct{ texts map[string]string }

func (f *fakeWelcomes) WelcomeFor(_ context.Context, _, state string) (services.WelcomeMessage, bool, error) {
	t, ok := f.texts[state]
	return services.WelcomeMessage{Text: t, Links: []wecom.Link{{Title: "活动页", URL: "https://example.com/f/abc"}}}, ok, nil
}

func testPII(t testing.TB) *pii.Box {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(7 * i)
	}
	box, err := pii.NewBox(map[byte][]byte{1: key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// newWeComEnv starts everything; workers run unless noWorkers.
func newWeComEnv(t testing.TB, noWorkers bool) *wecomEnv {
	t.Helper()
	ctx := context.Background()
	env := &wecomEnv{t: t, db: pgtest.NewDB(t), box: testPII(t), calls: &callLog{},
		welcomes: &fakeWelcomes{texts: map[string]string{}}}
	sb, err := sandbox.Start(ctx, sandbox.Options{CallbackRetryDelay: 20 * time.Millisecond, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	env.sb = sb
	audit := services.NewAuditService(env.db)
	env.settings = services.NewSettingsService(env.db, env.box, audit)
	o := sb.Options()
	env.corp, env.oaApp = o.Corp.CorpID, o.Official.AppID
	if _, err := env.settings.SaveSandboxSettings(ctx, services.WeComSettings{CorpID: o.Corp.CorpID,
		AppMode: services.AppModeSelfBuilt, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		ContactsSyncSecret: o.Corp.ContactSecret, CallbackToken: o.Corp.Token, CallbackAESKey: o.Corp.EncodingAESKey,
		OAAppID: o.Official.AppID, OASecret: o.Official.Secret, OAToken: o.Official.Token,
		OAAESKey: o.Official.EncodingAESKey, OAMessageMode: o.Official.Mode,
		MPAppID: o.MiniProgram.AppID, MPSecret: o.MiniProgram.Secret}); err != nil {
		t.Fatal(err)
	}
	env.provider = env.newProvider()
	env.inbox = services.NewInboxService(env.db, env.box, audit)
	env.inbox.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	env.proc = env.newProcessor(env.provider)
	env.worker = env.newWorker(env.proc)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	registerCallbacks(e, WeComDeps{Connections: env.provider, Inbox: env.inbox, WakeInbox: env.worker.Wake})
	env.srv = httptest.NewServer(e)
	t.Cleanup(env.srv.Close)
	if err := sb.SetWeComCallback(ctx, env.srv.URL+"/callbacks/wecom"); err != nil {
		t.Fatal(err)
	}
	if err := sb.SetOACallback(ctx, env.srv.URL+"/callbacks/oa"); err != nil {
		t.Fatal(err)
	}
	env.stop = func() {}
	if !noWorkers {
		env.stop = env.run(env.worker)
	}
	t.Cleanup(func() { env.stop() })
	return env
}

func (env *wecomEnv) newProvider() *services.WeChatProvider {
	p := services.NewWeChatProvider(env.settings, env.db, env.box, quietLog())
	u := env.sb.URLs()
	p.SetBaseURLs(services.WeChatBaseURLs{WeCom: u.WeComAPI, Official: u.OfficialAPI, OAuth: u.OAuth})
	p.Transport = env.calls
	return p
}

func (env *wecomEnv) newProcessor(p *services.WeChatProvider) *services.EventProcessor {
	proc := services.NewEventProcessor(env.db, env.box, services.NewIdentityService(env.db, env.box), p, quietLog())
	proc.Welcomes = env.welcomes
	return proc
}

func (env *wecomEnv) newWorker(proc services.Processor) *services.InboxWorker {
	w := services.NewInboxWorker(env.inbox, proc, quietLog())
	w.Poll = 20 * time.Millisecond
	return w
}

// run starts a worker and returns its stop function.
func (env *wecomEnv) run(w *services.InboxWorker) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// settle waits until the sandbox delivered every callback and the inbox
// has nothing pending. It fails only when neither moves for 15 s: a
// thousand callbacks are delivered one by one, and on a loaded 2-core
// machine under -race that alone can take longer than any fixed deadline.
func (env *wecomEnv) settle() {
	env.t.Helper()
	env.waitDrained("sandbox callbacks", env.sb.CallbacksInFlight)
	env.waitDrained("inbox", func() int {
		return env.count(`SELECT count(*) FROM wecom_inbox WHERE state = 'pending'`)
	})
}

// waitDrained waits until left() is 0, as long as it keeps going down.
func (env *wecomEnv) waitDrained(what string, left func() int) {
	env.t.Helper()
	best, since := left(), time.Now()
	for best > 0 {
		if time.Since(since) > 15*time.Second {
			env.t.Fatalf("%s: %d left and none done in 15 s", what, best)
		}
		time.Sleep(10 * time.Millisecond)
		if n := left(); n < best {
			best, since = n, time.Now()
		}
	}
}

func (env *wecomEnv) waitFor(what string, cond func() bool) {
	env.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			env.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (env *wecomEnv) count(q string, args ...any) int {
	env.t.Helper()
	var n int
	if err := env.db.Get(&n, q, args...); err != nil {
		env.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// momentsOn counts moments of kind on the identity (kind, key).
func (env *wecomEnv) momentsOn(kind, idKind, key string) int {
	return env.count(`SELECT count(*) FROM moments m JOIN identities i ON i.id = m.identity_id
		WHERE m.kind = $1 AND i.kind = $2 AND i.key = $3`, kind, idKind, key)
}

// userOf returns the marketing user owning an identity (0 if none).
func (env *wecomEnv) userOf(idKind, key string) int {
	return env.count(`SELECT coalesce(max(user_id), 0) FROM identities WHERE kind = $1 AND key = $2`, idKind, key)
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
