package wecom

import "context"

// pool hands out SDK app instances, each to one goroutine at a time.
//
// Why more than one instance: PowerWeChat v3.4.41 is not safe for concurrent
// use of one app. kernel.BaseClient.Request assigns client.QueryRaw on every
// call, and the app's *logger.Logger.WithContext stores the context in the
// shared logger (used on every token refresh); `go test -race` reports both.
// Instances share the Cache (tokens, tickets) and the transport (connections),
// so extra instances cost memory only, not extra gettoken calls. Instances are
// created lazily up to size.
type pool[T any] struct {
	idle  chan T
	slots chan struct{}
	make  func() (T, error)
}

func newPool[T any](size int, mk func() (T, error)) *pool[T] {
	return &pool[T]{idle: make(chan T, size), slots: make(chan struct{}, size), make: mk}
}

// get returns an idle instance, creates one if the pool is not full, or
// waits for one to be put back.
func (p *pool[T]) get(ctx context.Context) (T, error) {
	var zero T
	select {
	case v := <-p.idle:
		return v, nil
	default:
	}
	select {
	case v := <-p.idle:
		return v, nil
	case p.slots <- struct{}{}:
		v, err := p.make()
		if err != nil {
			<-p.slots
			return zero, err
		}
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// put returns v to the pool; it never blocks because idle has room for
// every instance ever created.
func (p *pool[T]) put(v T) { p.idle <- v }
