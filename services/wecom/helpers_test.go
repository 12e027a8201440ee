package wecom

import (
	"log/slog"
	"os"
	"strconv"
	"testing"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("WECOM_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
