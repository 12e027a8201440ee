package services

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"
)

func TestDatabaseUnavailableIsEUNAVAILABLE(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "unix", Err: syscall.ENOENT}
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("forms: insert: %w", dial), EUNAVAILABLE},
		{driver.ErrBadConn, EUNAVAILABLE},
		{&pq.Error{Code: "57P01"}, EUNAVAILABLE},
		{&pq.Error{Code: "08006"}, EUNAVAILABLE},
		{fmt.Errorf("x: %w", syscall.ECONNREFUSED), EUNAVAILABLE},
		{&pq.Error{Code: "23505"}, EINTERNAL},
		{errors.New("boom"), EINTERNAL},
		{context.Canceled, EINTERNAL},
		{Errorf(ENOTFOUND, "x"), ENOTFOUND},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("%v: code %s, want %s", tt.err, got, tt.want)
		}
	}
	if ErrorMessage(dial) == ErrorMessage(errors.New("boom")) {
		t.Error("unavailable and internal errors read the same")
	}
}
