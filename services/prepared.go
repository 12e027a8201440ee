package services

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// stmtCache keeps hot-path statements prepared, one per query text. lib/pq
// sends an unprepared query in two round trips (parse, then bind/execute)
// and PostgreSQL plans it every time; prepared once, it is one round trip
// with a cached plan. database/sql re-prepares a statement on each pooled
// connection as needed. The zero value is ready to use.
type stmtCache struct {
	m sync.Map // query text → *sqlx.Stmt
}

// get returns the prepared statement of q on db, preparing it on first use.
// No lock is held while preparing: two first callers may both prepare, and
// the loser's statement is closed.
func (c *stmtCache) get(ctx context.Context, db *sqlx.DB, q string) (*sqlx.Stmt, error) {
	if st, ok := c.m.Load(q); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := db.PreparexContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}
