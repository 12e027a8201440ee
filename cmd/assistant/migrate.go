package main

import (
	"context"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, stdout io.Writer, _ []string, getenv func(string) string) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	db, err := openDatabase(ctx, cfg, log, borrowCluster)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.migrate(ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, "migrations applied")
	return err
}
