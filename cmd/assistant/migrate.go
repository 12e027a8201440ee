package main

import (
	"context"
	"fmt"
	"io"
)

// runMigrate applies pending migrations (withServices does) and exits.
func runMigrate(ctx context.Context, stdout io.Writer, _ []string, getenv func(string) string) error {
	return withServices(ctx, stdout, getenv, func(*toolServices) error {
		_, err := fmt.Fprintln(stdout, "migrations applied")
		return err
	})
}
