package pgcluster

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testLogWriter sends slog output to t.Log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newCluster returns a Fast cluster in dataDir that is killed when the test ends.
func newCluster(t *testing.T, dataDir string) *Cluster {
	t.Helper()
	return newClusterOpts(t, Options{DataDir: dataDir, Fast: true})
}

// newClusterOpts fills in BinDir and Log.
func newClusterOpts(t *testing.T, opts Options) *Cluster {
	t.Helper()
	bin, err := FindBinDir(os.Getenv("PG_BINDIR"))
	if err != nil {
		t.Fatal(err)
	}
	opts.BinDir = bin
	opts.Log = slog.New(slog.NewTextHandler(testLogWriter{t}, nil))
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Kill(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func start(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %v", time.Since(began))
}

func openDB(t *testing.T, c *Cluster, name string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", c.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func countRows(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM notes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// postmasterPid reads the pid the running server wrote.
func postmasterPid(t *testing.T, c *Cluster) int {
	t.Helper()
	pf, err := readPidFile(c.pidPath())
	if err != nil {
		t.Fatal(err)
	}
	return pf.pid
}

// kill9 kills the postmaster like the OOM killer would.
func kill9(t *testing.T, c *Cluster) {
	t.Helper()
	if err := syscall.Kill(postmasterPid(t, c), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// kill9AndWait also waits until its orphaned children have noticed and exited.
func kill9AndWait(t *testing.T, c *Cluster) {
	t.Helper()
	kill9(t, c)
	deadline := time.Now().Add(10 * time.Second)
	for c.Running() || len(leftovers(c.realDataDir())) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("postgres processes still running: %v", leftovers(c.realDataDir()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	c := newCluster(t, filepath.Join(t.TempDir(), "data"))
	start(t, c)
	start(t, c) // idempotent
	if !c.Running() {
		t.Fatal("Running() = false after Start")
	}
	pid := postmasterPid(t, c)
	if pgid, _ := syscall.Getpgid(pid); pgid == syscall.Getpgrp() {
		t.Errorf("postmaster shares our process group %d; Ctrl-C would reach it", pgid)
	}
	if err := c.CreateDatabase(context.Background(), `app "db"`, ""); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, c, `app "db"`)
	mustExec(t, db, `CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')`)
	db.Close()

	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("Running() = true after Stop")
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatalf("Stop when stopped: %v", err)
	}
	start(t, c)
	if n := countRows(t, openDB(t, c, `app "db"`)); n != 1 {
		t.Fatalf("rows after restart = %d, want 1", n)
	}
}

func TestStartAfterKill9(t *testing.T) {
	t.Parallel()
	// Durable settings, as in production: Fast mode may lose the last commits.
	c := newClusterOpts(t, Options{DataDir: filepath.Join(t.TempDir(), "data")})
	start(t, c)
	db := openDB(t, c, "postgres")
	mustExec(t, db, `CREATE TABLE notes (body text); INSERT INTO notes VALUES ('committed')`)
	// The idle connection's backend outlives the postmaster for a moment;
	// Start must wait for it rather than fail.
	kill9(t, c)
	start(t, c)
	if n := countRows(t, openDB(t, c, "postgres")); n != 1 {
		t.Fatalf("rows after crash recovery = %d, want 1", n)
	}
}

func TestStaleLockFiles(t *testing.T) {
	t.Parallel()
	c := newCluster(t, filepath.Join(t.TempDir(), "data"))
	start(t, c)

	unrelated := exec.Command("sleep", "60")
	if err := unrelated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unrelated.Process.Kill(); unrelated.Wait() })
	tests := []struct {
		name string
		pid  int
	}{
		{"dead pid", deadPid(t)},
		{"pid of an unrelated live process", unrelated.Process.Pid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kill9AndWait(t, c)
			setLockPid(t, c.pidPath(), tt.pid)
			setLockPid(t, filepath.Join(c.SocketDir(), socketName+".lock"), tt.pid)
			start(t, c)
			if !c.Running() {
				t.Fatal("not running")
			}
		})
	}
	if unrelated.ProcessState != nil || syscall.Kill(unrelated.Process.Pid, 0) != nil {
		t.Fatal("the unrelated process was harmed")
	}
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// setLockPid rewrites the pid on the first line of a PostgreSQL lock file.
func setLockPid(t *testing.T, path string, pid int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	lines[0] = strconv.Itoa(pid)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptRunningServer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first := newCluster(t, dir)
	start(t, first)
	pid := postmasterPid(t, first)

	// A restarted app gets a new Cluster for the same directory.
	second := newCluster(t, dir)
	start(t, second)
	if got := postmasterPid(t, second); got != pid {
		t.Fatalf("postmaster pid = %d, want the adopted %d", got, pid)
	}
	if err := openDB(t, second, "postgres").Ping(); err != nil {
		t.Fatal(err)
	}
	if err := second.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if first.Running() {
		t.Fatal("server still running after Stop through the adopting Cluster")
	}
}

func TestLongDataDirUsesShortSocketDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("long-directory-name-", 6), "data")
	// An existing empty data directory (a volume mount point) is used in place.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, dir)
	if !strings.HasPrefix(c.SocketDir(), "/tmp/ma-pg-") {
		t.Fatalf("SocketDir() = %q, want the /tmp fallback", c.SocketDir())
	}
	t.Cleanup(func() { os.RemoveAll(c.SocketDir()) })
	start(t, c)
	if err := openDB(t, c, "postgres").Ping(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(c.SocketDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || int(fi.Sys().(*syscall.Stat_t).Uid) != c.uid() {
		t.Fatalf("socket dir mode %v uid %d, want 0700 owned by %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid, c.uid())
	}
}

func TestStartRefusesForeignDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "important.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := newCluster(t, dir).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start() error = %v, want a not-empty error", err)
	}
}

func TestDSN(t *testing.T) {
	c := &Cluster{socketDir: "/tmp/my dir"}
	want := `host='/tmp/my dir' port=5432 user=postgres dbname=t1 sslmode=disable`
	if got := c.DSN("t1"); got != want {
		t.Fatalf("DSN() = %s, want %s", got, want)
	}
}

func TestServerOptions(t *testing.T) {
	c := &Cluster{socketDir: "/tmp/it's", opts: Options{Fast: true}}
	want := `-c 'listen_addresses=' -c 'port=5432' -c 'unix_socket_directories="/tmp/it'\''s"'` +
		` -c 'fsync=off' -c 'synchronous_commit=off' -c 'full_page_writes=off'`
	if got := c.serverOptions(); got != want {
		t.Fatalf("serverOptions() =\n%s\nwant\n%s", got, want)
	}
}

func TestNewRejectsUnquotablePath(t *testing.T) {
	if _, err := New(Options{BinDir: "/bin", DataDir: "/tmp/$HOME/data"}); err == nil {
		t.Fatal("New accepted a data dir with $")
	}
}
