package main

import (
	"context"
	"time"
)

// memberTagPoll is how soon a level change reaches WeCom when nothing wakes
// the worker (growth settles in other services and other instances).
const memberTagPoll = 3 * time.Second

// startMemberTags runs the level → corp tag sync worker until the returned
// stop is called (letting the job in hand finish). Every instance runs one;
// jobs are claimed with SKIP LOCKED and a lease.
func startMemberTags(ctx context.Context, wc *wecomRuntime) (stop func()) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); wc.memberTags.RunWorker(wctx, memberTagPoll) }()
	return func() { cancel(); <-done }
}
