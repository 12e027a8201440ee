package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// watchdogScript waits for EOF on stdin, which comes when the test binary
// exits however it exits, then shuts down the postmaster if it still serves
// $1 (SIGQUIT: immediate shutdown) and removes $2.
const watchdogScript = `read _
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd")" = "$1" ] && kill -QUIT "$pid" 2>/dev/null; then
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$2"`

// startWatchdog starts a small shell process that cleans up after a test
// binary that dies without running teardown: a panic, a -timeout, a SIGKILL.
// Otherwise each such run would leave a postgres server behind. Closing the
// returned file (teardown does) lets it exit.
func startWatchdog(dataDir, dir string) (*os.File, error) {
	if real, err := filepath.EvalSymlinks(dataDir); err == nil {
		dataDir = real // compared with /proc/<pid>/cwd
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", dataDir, dir)
	cmd.Stdin = r
	// Own process group: a Ctrl-C kills the test binary, not its cleaner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	go cmd.Wait() //nolint:errcheck // reaps it; its exit status means nothing
	return w, nil
}
