package main

import (
	"context"
	"log/slog"

	"github.com/marketing-assistant/assistant/services"
)

// newAutomation builds the automation rules service: WeCom through the
// runtime's provider, growth through the member service, links to base.
func newAutomation(db *database, shared sharedServices, wc *wecomRuntime, base string) *services.AutomationService {
	return services.NewAutomationService(db.DB, shared.audit, services.NewMemberService(db.DB, shared.audit), wc.provider, base)
}

// startAutomation runs the rule workers until the returned stop is called
// (which lets the executions in hand finish). Every instance runs them; the
// queue's SKIP LOCKED claims keep instances apart.
func startAutomation(ctx context.Context, log *slog.Logger, db *database, shared sharedServices, wc *wecomRuntime, base string) (stop func()) {
	w := services.NewAutomationWorker(newAutomation(db, shared, wc, base), log)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	return func() { cancel(); <-done }
}
