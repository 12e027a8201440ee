//go:build !linux

package redistest

import "syscall"

// dieWithParent has no portable equivalent off Linux; Cleanup still stops
// the server when the test ends normally.
func dieWithParent() *syscall.SysProcAttr { return nil }
