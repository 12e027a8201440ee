package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/marketing-assistant/assistant/services"
)

// toolServices are what command-line tools work with.
type toolServices struct {
	cfg     Config
	log     *slog.Logger
	secrets Secrets
	db      *database
	audit   *services.AuditService
	admins  *services.AdminService
}

// withServices loads the configuration and keys, opens the database
// (borrowing a running embedded cluster), applies migrations and runs fn.
func withServices(ctx context.Context, stdout io.Writer, getenv func(string) string, fn func(*toolServices) error) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.LogLevel = maxLevel(cfg)
	log := newLogger(cfg, stdout)
	secrets, err := loadSecrets(cfg, log)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, log, borrowCluster)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.migrate(ctx); err != nil {
		return err
	}
	audit := services.NewAuditService(db.DB)
	return fn(&toolServices{cfg: cfg, log: log, secrets: secrets, db: db, audit: audit, admins: services.NewAdminService(db.DB, audit)})
}

// maxLevel keeps tools quiet: they log warnings and errors only, unless
// LOG_LEVEL asks for less.
func maxLevel(cfg Config) slog.Level {
	if cfg.LogLevel > slog.LevelWarn {
		return cfg.LogLevel
	}
	return slog.LevelWarn
}
