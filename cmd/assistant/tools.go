package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/marketing-assistant/assistant/services"
)

// toolServices are the services command-line tools use.
type toolServices struct {
	db     *database
	audit  *services.AuditService
	admins *services.AdminService
}

// withServices opens the database (borrowing a running embedded cluster),
// applies migrations and runs fn with the services.
func withServices(ctx context.Context, stdout io.Writer, getenv func(string) string, fn func(*toolServices) error) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.LogLevel = maxLevel(cfg)
	log := newLogger(cfg, stdout)
	db, err := openDatabase(ctx, cfg, log, borrowCluster)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.migrate(ctx); err != nil {
		return err
	}
	audit := services.NewAuditService(db.DB)
	return fn(&toolServices{db: db, audit: audit, admins: services.NewAdminService(db.DB, audit)})
}

// maxLevel keeps tools quiet: they log warnings and errors only, unless
// LOG_LEVEL asks for less.
func maxLevel(cfg Config) slog.Level {
	if cfg.LogLevel > slog.LevelWarn {
		return cfg.LogLevel
	}
	return slog.LevelWarn
}
