package services

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
)

// databaseUnavailable reports whether err means the database cannot be
// reached right now (stopped, restarting, network cut) rather than that the
// request was wrong. Such failures are answered 503 with Retry-After, so
// clients and WeChat retry, and nothing is acknowledged that was not stored.
func databaseUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		// Class 08: connection exception; class 57: operator intervention
		// (admin_shutdown, crash_shutdown, cannot_connect_now).
		class := pe.Code.Class()
		return class == "08" || class == "57"
	}
	var opErr *net.OpError
	return errors.Is(err, driver.ErrBadConn) || errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
