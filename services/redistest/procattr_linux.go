package redistest

import "syscall"

// dieWithParent kills redis-server when the test binary dies (panic,
// -timeout, kill), so no server outlives its test run.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
