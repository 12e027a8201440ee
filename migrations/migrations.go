// Package migrations holds the database schema as embedded, goose-annotated SQL
// files and applies them.
//
// Files are named NNNNN_name.sql; each runs in its own transaction. A PostgreSQL session advisory lock (goose's session
// locker) makes concurrent starts against one empty database safe: the first
// instance migrates, the others wait and then find nothing to do.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// Up applies every pending migration and returns the versions it applied.
func Up(ctx context.Context, db *sql.DB, log *slog.Logger) ([]int64, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: locker: %w", err)
	}
	// Features reserve number ranges (forms 10s, WeCom 20s, admin 30s...), so a
	// database migrated by an older build may lack a lower number that a newer
	// build adds; apply such missing migrations instead of refusing to start.
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker), goose.WithAllowOutofOrder(true)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: provider: %w", err)
	}
	results, err := p.Up(ctx)
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, r.Source.Version)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrations: up: %w", err)
	}
	return applied, nil
}
