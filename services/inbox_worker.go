package services

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// Processor handles one inbox item (*EventProcessor).
type Processor interface {
	Process(ctx context.Context, it InboxItem) error
}

// InboxWorker drains the inbox: Workers goroutines claim due items, process
// them and record the outcome. Several instances of the app may each run one;
// Claim's SKIP LOCKED and leases keep them apart.
type InboxWorker struct {
	inbox *InboxService
	proc  Processor
	log   *slog.Logger

	Workers int           // goroutines; default 4
	Batch   int           // items per claim; default 8
	Poll    time.Duration // idle wait between claims; default 500 ms
	Lease   time.Duration // how long a claimed item is ours; default 2 min
	Timeout time.Duration // one item's processing; default 60 s
	// Keep is how long processed items (and their dedup keys) stay; default 7 days.
	Keep time.Duration

	wake chan struct{}
}

// NewInboxWorker returns a worker with the defaults.
func NewInboxWorker(inbox *InboxService, proc Processor, log *slog.Logger) *InboxWorker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &InboxWorker{inbox: inbox, proc: proc, log: log, Workers: 4, Batch: 8, Poll: 500 * time.Millisecond,
		Lease: 2 * time.Minute, Timeout: 60 * time.Second, Keep: 7 * 24 * time.Hour, wake: make(chan struct{}, 1)}
}

// Wake makes an idle goroutine claim at once; the callback handler calls it
// after storing an event, so a welcome code (20 s) is used within
// milliseconds rather than a poll interval.
func (w *InboxWorker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run processes until ctx ends, then lets the items in hand finish and
// returns.
func (w *InboxWorker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range max(w.Workers, 1) {
		wg.Add(1)
		go func() { defer wg.Done(); w.loop(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.janitor(ctx) }()
	wg.Wait()
}

func (w *InboxWorker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		n := w.drainOnce(ctx)
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-time.After(w.Poll):
		}
	}
}

// drainOnce claims and processes one batch and returns its size.
func (w *InboxWorker) drainOnce(ctx context.Context) int {
	items, err := w.inbox.Claim(ctx, max(w.Batch, 1), w.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("inbox: claim failed", "err", err)
			time.Sleep(w.Poll)
		}
		return 0
	}
	if len(items) == w.Batch {
		w.Wake() // more may be waiting: let another goroutine help
	}
	for _, it := range items {
		w.handle(ctx, it)
	}
	return len(items)
}

// handle processes one item. Processing outlives ctx (bounded by Timeout) so
// that a shutdown never abandons an item half way.
func (w *InboxWorker) handle(ctx context.Context, it InboxItem) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.Timeout)
	defer cancel()
	err := w.proc.Process(pctx, it)
	if err == nil {
		if err := w.inbox.Done(pctx, it.ID); err != nil {
			w.log.Warn("inbox: mark done failed", "err", err, "id", it.ID)
		}
		return
	}
	state, ferr := w.inbox.Fail(pctx, it, err.Error(), IsPermanent(err))
	if ferr != nil {
		w.log.Warn("inbox: record failure failed", "err", ferr, "id", it.ID)
		return
	}
	w.log.Warn("inbox: event failed", "err", err, "id", it.ID, "event", it.Event, "attempt", it.Attempts, "state", state)
}

// janitor prunes processed items and expired cache rows now and then.
func (w *InboxWorker) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.inbox.Prune(ctx, w.Keep); err != nil {
				w.log.Warn("inbox: prune failed", "err", err)
			}
			if err := wecom.SweepPGCache(ctx, w.inbox.db); err != nil {
				w.log.Warn("inbox: cache sweep failed", "err", err)
			}
		}
	}
}
