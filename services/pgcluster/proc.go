package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pidFile is what postmaster.pid (or a socket lock file) says about the
// server that wrote it.
type pidFile struct {
	pid       int
	socketDir string // line 5
	status    string // line 8: starting, ready, stopping or standby
}

// readPidFile parses a PostgreSQL lock file; the error wraps fs.ErrNotExist
// when there is none. A file caught half-written has an empty status.
func readPidFile(path string) (pidFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pidFile{}, err
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil {
		return pidFile{}, fmt.Errorf("pgcluster: %s: bad pid: %w", path, err)
	}
	pf := pidFile{pid: pid}
	if len(lines) > 4 {
		pf.socketDir = strings.TrimSpace(lines[4])
	}
	if len(lines) > 7 {
		pf.status = strings.TrimSpace(lines[7])
	}
	return pf, nil
}

// alive reports whether a process with this pid exists (EPERM means it does,
// under another user).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// procAvailable reports whether /proc can tell processes apart. Without it
// (not Linux) every live pid is presumed to be our server, the safe guess.
func procAvailable() bool {
	_, err := os.Stat("/proc/self/cwd")
	return err == nil
}

// serves reports whether pid is a postgres process working in dataDir. The
// postmaster and all its children chdir into PGDATA, which tells our server
// from an unrelated process that reused a pid from a stale lock file.
func serves(pid int, dataDir string) bool {
	if !procAvailable() {
		return alive(pid)
	}
	proc := "/proc/" + strconv.Itoa(pid)
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		return false
	}
	// An upgraded package leaves the running binary marked " (deleted)".
	switch filepath.Base(strings.TrimSuffix(exe, " (deleted)")) {
	case "postgres", "postmaster":
	default:
		return false
	}
	cwd, err := os.Readlink(proc + "/cwd")
	return err == nil && cwd == dataDir
}

// leftovers lists postgres processes still working in dataDir. After a
// kill -9 of the postmaster its children live on for a moment; a new server
// cannot start until they are gone, and must not start while they still
// write to the data files.
func leftovers(dataDir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && serves(pid, dataDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// clearForeignLock removes a lock file whose pid belongs to a live process
// that is not a postgres server for dataDir, typically a pid reused after a
// reboot. PostgreSQL itself would refuse to start ("Is another postmaster
// running?"). A lock with a dead pid is left alone: PostgreSQL handles it, and
// also uses the shared memory key in postmaster.pid to clean up.
func (c *Cluster) clearForeignLock(path, dataDir string, extra ...string) error {
	pf, err := readPidFile(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !alive(pf.pid)) || serves(pf.pid, dataDir) {
		return nil
	}
	// An unparsable lock file blocks PostgreSQL just as a foreign pid does.
	// A zombie counts as alive for PostgreSQL too: a killed postmaster stays one
	// until its new parent reaps it, which some container init processes never do.
	c.log.Warn("pgcluster: removing stale lock file: its pid is not a server for this data directory",
		"file", path, "pid", pf.pid, "err", err)
	for _, p := range append([]string{path}, extra...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pgcluster: remove stale lock: %w", err)
		}
	}
	return nil
}
