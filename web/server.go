package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Timeouts bound slow clients so they cannot hold connections (and the
// goroutines and buffers behind them) open forever. Zero fields take the
// defaults of Serve.
type Timeouts struct {
	ReadHeader time.Duration // request line and headers; default 5 s (slowloris)
	Read       time.Duration // the whole request, body included; default 20 s
	Write      time.Duration // from the end of the headers to the end of the answer; default 30 s
	Idle       time.Duration // between keep-alive requests; default 90 s
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 5*time.Second)
	def(&t.Read, 20*time.Second)
	def(&t.Write, 30*time.Second)
	def(&t.Idle, 90*time.Second)
	return t
}

// Serve serves h on ln until ctx is cancelled, then shuts down gracefully:
// new connections are refused and requests in flight get up to grace to finish.
// Timeouts bound slow clients so they cannot hold connections open forever.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	return ServeWithTimeouts(ctx, ln, h, grace, Timeouts{})
}

// ServeWithTimeouts is Serve with other slow-client limits (tests shorten
// them so that cutting off a slow client takes milliseconds, not seconds).
func ServeWithTimeouts(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, t Timeouts) error {
	t = t.withDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}
