package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often Start re-checks a server that is starting up,
// shutting down or leaving orphaned children behind.
const pollInterval = 50 * time.Millisecond

// Start initialises the data directory on first use and starts the server.
// It is idempotent: a server already serving this data directory, for
// example one left running by a killed app, is adopted.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := c.prepare(); err != nil {
		return err
	}
	if err := c.initdb(ctx); err != nil {
		return err
	}
	adopted, err := c.settle(ctx)
	if err != nil || adopted {
		return err
	}
	return c.start(ctx)
}

// Running reports whether a postgres server is serving this data directory.
func (c *Cluster) Running() bool {
	pf, err := readPidFile(c.pidPath())
	return err == nil && serves(pf.pid, c.realDataDir())
}

// Stop shuts the server down cleanly (fast mode: disconnect clients, then
// checkpoint), falling back to an immediate shutdown. It returns nil when no
// server is running.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.Running() {
		return nil
	}
	err := c.pgctlStop(ctx, "fast")
	if err == nil || !c.Running() {
		return nil
	}
	c.log.Warn("pgcluster: fast shutdown failed, shutting down immediately", "err", err)
	// ctx may be what expired; the fallback still deserves a few seconds.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(err, c.pgctlStop(ictx, "immediate"))
}

// Kill stops the server without a checkpoint, as a crash would; the next
// Start runs crash recovery. For fault tests, and for throwaway clusters
// whose data does not matter.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.pgctlStop(ctx, "immediate")
}

// pgctlStop runs pg_ctl stop in the given mode and waits for the server to
// exit. Callers check Running first: pg_ctl signals whatever pid the lock
// file names, even an unrelated process.
func (c *Cluster) pgctlStop(ctx context.Context, mode string) error {
	err := c.run(ctx, "pg_ctl", "stop", "-w", "-t", waitSeconds(ctx), "-m", mode, "-D", c.opts.DataDir)
	if err != nil {
		return fmt.Errorf("pgcluster: stop (%s): %w", mode, err)
	}
	c.log.Info("pgcluster: stopped", "data_dir", c.opts.DataDir, "mode", mode)
	return nil
}

// initdb creates the cluster unless PG_VERSION shows there is one. A missing
// data directory is built under a temporary name and renamed into place, so
// an initdb killed halfway never leaves a half-made cluster behind.
func (c *Cluster) initdb(ctx context.Context) error {
	dir := c.opts.DataDir
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return nil
	}
	entries, err := os.ReadDir(dir)
	target := dir
	switch {
	case errors.Is(err, fs.ErrNotExist):
		target = dir + ".initdb"
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("pgcluster: initdb: %w", err)
		}
	case err != nil:
		return fmt.Errorf("pgcluster: initdb: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("pgcluster: %s is not empty but holds no cluster (no PG_VERSION); move it away", dir)
	}
	// An existing empty directory (a volume mount point, say) is used in place.
	if err := c.initdbAt(ctx, target); err != nil {
		return err
	}
	if target == dir {
		return nil
	}
	if err := os.Rename(target, dir); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

// initdbAt runs initdb into dir, created empty and owned by the server user.
func (c *Cluster) initdbAt(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	if err := c.chown(dir); err != nil {
		return err
	}
	args := []string{"-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"}
	if c.opts.Fast {
		args = append(args, "--no-sync")
	}
	started := time.Now()
	if err := c.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w", err)
	}
	c.log.Info("pgcluster: initialised cluster", "data_dir", c.opts.DataDir, "took", time.Since(started))
	return nil
}

// settle deals with whatever a previous run left behind. It returns true
// when a live server for this data directory has been adopted, and false
// when a new one may be started: no server, no orphaned children, and no
// lock file naming an unrelated process.
func (c *Cluster) settle(ctx context.Context) (bool, error) {
	dataDir := c.realDataDir()
	for {
		pf, err := readPidFile(c.pidPath())
		switch {
		case err == nil && serves(pf.pid, dataDir) && (pf.status == "ready" || pf.status == "standby"):
			if adopted, err := c.adopt(ctx, pf); adopted || err != nil {
				return adopted, err
			}
		case err == nil && serves(pf.pid, dataDir):
			// Starting (crash recovery) or stopping: wait until it is one or
			// the other.
		case len(leftovers(dataDir)) == 0:
			return false, c.clearStaleLocks(dataDir)
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return false, fmt.Errorf("pgcluster: waiting for the previous server of %s (pids %v) to finish: %w",
				c.opts.DataDir, leftovers(dataDir), err)
		}
	}
}

// adopt takes over a running server once it answers on our socket. It
// returns false without error when the server dies meanwhile, as one that
// was just sent SIGKILL does: the caller then waits for it to be gone.
func (c *Cluster) adopt(ctx context.Context, pf pidFile) (bool, error) {
	if pf.socketDir != c.socketDir {
		return false, fmt.Errorf("pgcluster: server pid %d for %s listens in %s, not %s; stop it first",
			pf.pid, c.opts.DataDir, pf.socketDir, c.socketDir)
	}
	const patience = 5 * time.Second
	for began := time.Now(); ; {
		err := c.ping(ctx)
		if err == nil {
			c.log.Info("pgcluster: adopted running server", "pid", pf.pid, "data_dir", c.opts.DataDir)
			return true, nil
		}
		if !serves(pf.pid, c.realDataDir()) {
			return false, nil
		}
		if time.Since(began) > patience || sleep(ctx, pollInterval) != nil {
			return false, fmt.Errorf("pgcluster: server pid %d for %s is running but not answering: %w",
				pf.pid, c.opts.DataDir, err)
		}
	}
}

// clearStaleLocks removes lock files naming unrelated live processes: the
// data directory's postmaster.pid and the socket's lock file.
func (c *Cluster) clearStaleLocks(dataDir string) error {
	sock := filepath.Join(c.socketDir, socketName)
	return errors.Join(
		c.clearForeignLock(c.pidPath(), dataDir),
		c.clearForeignLock(sock+".lock", dataDir, sock),
	)
}

// start runs pg_ctl start and waits until the server accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	started := time.Now()
	err := c.run(ctx, "pg_ctl", "start", "-w", "-t", waitSeconds(ctx),
		"-D", c.opts.DataDir, "-l", c.logFile, "-o", c.serverOptions())
	if err != nil {
		return fmt.Errorf("pgcluster: start: %w\nserver log %s:\n%s", err, c.logFile, c.logTail())
	}
	c.log.Info("pgcluster: started", "data_dir", c.opts.DataDir, "socket_dir", c.socketDir, "took", time.Since(started))
	return nil
}

// serverOptions are the postgres command-line settings. pg_ctl pastes them
// into a /bin/sh command line, so each one is shell-quoted.
func (c *Cluster) serverOptions() string {
	// unix_socket_directories is a comma-separated list: double-quote the entry.
	sockets := `"` + strings.ReplaceAll(c.socketDir, `"`, `""`) + `"`
	settings := []string{
		"listen_addresses=", // no TCP: parallel clusters never clash
		"port=" + strconv.Itoa(Port),
		"unix_socket_directories=" + sockets,
	}
	if c.opts.Fast {
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	var b strings.Builder
	for _, s := range settings {
		b.WriteString(" -c '" + strings.ReplaceAll(s, "'", `'\''`) + "'")
	}
	return strings.TrimSpace(b.String())
}

// run runs one of the PostgreSQL programs as the server user and returns its
// output in the error when it fails.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.BinDir, name), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = serverEnv()
	// Any directory the server user can enter; the caller's may be private.
	cmd.Dir = filepath.Dir(c.opts.DataDir)
	// Own process group: a Ctrl-C in the terminal reaches only the app, which
	// then shuts the server down in order. (pg_ctl also detaches the
	// postmaster with setsid.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.TrimSpace(out.String()))
	}
	return nil
}

// serverEnv is our environment without PG* variables: PGPORT, PGDATA or
// PGOPTIONS meant for clients must not reconfigure our server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// pidPath is the data directory's lock file.
func (c *Cluster) pidPath() string { return filepath.Join(c.opts.DataDir, "postmaster.pid") }

// realDataDir is the data directory with symlinks resolved, as the kernel
// reports it in /proc/<pid>/cwd.
func (c *Cluster) realDataDir() string {
	if dir, err := filepath.EvalSymlinks(c.opts.DataDir); err == nil {
		return dir
	}
	return c.opts.DataDir
}

// waitSeconds turns ctx's deadline into pg_ctl's -t argument.
func waitSeconds(ctx context.Context) string {
	secs := 60
	if d, ok := ctx.Deadline(); ok {
		secs = max(1, int(time.Until(d).Seconds()))
	}
	return strconv.Itoa(secs)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
