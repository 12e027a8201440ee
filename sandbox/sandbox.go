// Package sandbox is a protocol-faithful local stand-in for the WeCom server
// API (qyapi.weixin.qq.com), the Official Account / mini-program server API
// (api.weixin.qq.com) and the OAuth authorize pages (open.weixin.qq.com). It
// also sends the encrypted callbacks those servers send to the app, offers a
// JSON control API with a small HTML console, and ships a browser shim of the
// WeCom JS-SDK `ww`. The app's real PowerWeChat code runs against it in demo
// mode, tests and benchmarks. docs/sandbox.md documents it.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Sandbox is a running sandbox. Its methods are safe for concurrent use.
type Sandbox struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex // guards w, hits, rng, dirty
	w     *world
	hits  map[string]int
	rng   *rand.Rand // faults in rate mode
	dirty bool

	servers []*http.Server
	urls    URLs
	cb      *callbackQueue
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// URLs are the base URLs of the four listeners, without a trailing slash.
// Point PowerWeChat's Http.BaseURI at WeComAPI / OfficialAPI (OA and MP
// need a trailing "/" added by the caller, see powerwechat.md §0.4).
type URLs struct {
	WeComAPI    string `json:"wecom_api"`    // stands in for https://qyapi.weixin.qq.com
	OfficialAPI string `json:"official_api"` // stands in for https://api.weixin.qq.com
	OAuth       string `json:"oauth"`        // stands in for https://open.weixin.qq.com
	Control     string `json:"control"`      // control API and console
}

// Start loads the snapshot (if any), opens the four loopback listeners and
// starts serving. Close stops it.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	opts.setDefaults()
	snap, err := loadSnapshot(opts.SnapshotPath)
	if err != nil {
		return nil, err
	}
	if snap.World != nil && snap.World.Seed != 0 {
		opts.Seed = snap.World.Seed
	}
	fillConfig(&opts, snap.Config, rand.New(rand.NewPCG(opts.Seed, 0x5a4e)))
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Sandbox{opts: opts, log: opts.Logger, hits: map[string]int{},
		rng: rand.New(rand.NewPCG(opts.Seed, 0xfa17))}
	s.w = snap.World
	if s.w == nil {
		s.w = newWorld(opts.Seed)
		s.w.Departments = []*Department{{ID: 1, Name: opts.Corp.CorpName, Order: 100000000, Leaders: []string{}}}
		s.w.reindex()
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = cancel
	s.cb = newCallbackQueue()
	s.done.Add(2)
	go s.deliverLoop(runCtx)
	go s.snapshotLoop(runCtx)
	s.log.Info("sandbox started", "wecom_api", s.urls.WeComAPI, "official_api", s.urls.OfficialAPI,
		"oauth", s.urls.OAuth, "control", s.urls.Control)
	return s, nil
}

// listen opens one listener per real host; PowerWeChat drops path prefixes
// of its base URI, so hosts cannot share a listener under prefixes.
func (s *Sandbox) listen() error {
	l := s.opts.Listen
	specs := []struct {
		addr string
		h    http.Handler
		dst  *string
	}{
		{l.WeComAPI, s.wecomHost(), &s.urls.WeComAPI},
		{l.OfficialAPI, s.officialHost(), &s.urls.OfficialAPI},
		{l.OAuth, s.oauthHandler(), &s.urls.OAuth},
		{l.Control, s.controlHandler(), &s.urls.Control},
	}
	for _, sp := range specs {
		addr := sp.addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.closeServers(context.Background())
			return fmt.Errorf("sandbox: listen %s: %w", addr, err)
		}
		*sp.dst = "http://" + ln.Addr().String()
		srv := &http.Server{Handler: sp.h, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("sandbox: serve", "err", err)
			}
		}()
	}
	return nil
}

// URLs returns the base URLs (no trailing slash).
func (s *Sandbox) URLs() URLs { return s.urls }

// Options returns the effective options, with generated credentials filled in.
func (s *Sandbox) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// Close stops the listeners and the callback sender and writes the snapshot.
func (s *Sandbox) Close(ctx context.Context) error {
	s.stop()
	s.closeServers(ctx)
	s.done.Wait()
	return s.SaveSnapshot()
}

func (s *Sandbox) closeServers(ctx context.Context) {
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}
}

// Hits reports how many requests reached an API path (after fault injection).
func (s *Sandbox) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[cleanPath(path)]
}

// now reads the injectable clock.
func (s *Sandbox) now() time.Time { return s.opts.Now() }

// touch marks the state dirty for the snapshot writer; callers hold s.mu.
func (s *Sandbox) touch() { s.dirty = true }
