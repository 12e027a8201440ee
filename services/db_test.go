package services

import (
	"context"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

// WarmPool leaves n open connections in the pool, and no more than the
// pool may hold: asked for more, it stops at the limit instead of waiting
// for its own connections.
func TestWarmPoolOpensUpToTheLimit(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db.SetMaxIdleConns(6)
	if err := WarmPool(ctx, db, 5); err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.OpenConnections < 5 || s.InUse != 0 {
		t.Fatalf("after warming 5: %+v", s)
	}
	db.SetMaxOpenConns(3)
	if err := WarmPool(ctx, db, 8); err != nil {
		t.Fatalf("warming 8 of at most 3: %v", err)
	}
	if s := db.Stats(); s.OpenConnections != 3 || s.InUse != 0 {
		t.Fatalf("after warming 8 of at most 3: %+v", s)
	}
}
