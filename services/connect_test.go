package services

import (
	"context"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

// TestCurrentNeverWaitsOnceConnected: the callback hot path asks for the
// connection on every request. Once there is one, a slow or locked settings
// table must not hold any request up (the refresh runs in the background),
// while a save in this instance (Invalidate) is seen by the very next call.
func TestCurrentNeverWaitsOnceConnected(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	settings := NewSettingsService(db, testBox(t), NewAuditService(db))
	save := func(corp string) {
		t.Helper()
		if _, err := settings.SaveSandboxSettings(ctx, WeComSettings{CorpID: corp, AppMode: AppModeSelfBuilt, AgentID: 1000002,
			AgentSecret: "secret", CallbackToken: "token", CallbackAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
			OAMessageMode: OAModeSafe}); err != nil {
			t.Fatal(err)
		}
	}
	save("wwfirst")
	p := NewWeChatProvider(settings, db, testBox(t), nil)
	p.Recheck = time.Millisecond
	if c, err := p.Current(ctx); err != nil || c.Settings.CorpID != "wwfirst" {
		t.Fatalf("first connection: %+v, %v", c, err)
	}

	tx := db.MustBegin()
	tx.MustExec(`LOCK TABLE wecom_settings IN ACCESS EXCLUSIVE MODE`)
	// A request that waited would wait for its whole deadline (2 s) and then
	// get the old connection; a second is a bound no scheduler noise reaches.
	for range 5 {
		time.Sleep(2 * time.Millisecond)
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		began := time.Now()
		c, err := p.Current(qctx)
		cancel()
		if err != nil || c.Settings.CorpID != "wwfirst" || time.Since(began) > time.Second {
			t.Fatalf("Current while the settings table is locked: %v after %s (waited on the refresh)", err, time.Since(began))
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	save("wwsecond")
	p.Invalidate()
	if c, err := p.Current(ctx); err != nil || c.Settings.CorpID != "wwsecond" {
		t.Fatalf("after Invalidate: %+v, %v", c.Settings.CorpID, err)
	}
	// a save elsewhere (no Invalidate here) shows once the background refresh ran
	save("wwthird")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := p.Current(ctx)
		if err == nil && c.Settings.CorpID == "wwthird" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a save in another instance was never picked up: %v %v", c.Settings.CorpID, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
