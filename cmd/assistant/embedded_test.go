package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgcluster"
)

// TestEmbeddedPostgresLifecycle runs the real binary the way `make run` does:
// no DATABASE_URL, so it starts its own PostgreSQL under DATA_DIR. It checks
// readiness, a clean Ctrl-C, data reuse on restart, and recovery after kill -9
// of both the server and its postgres.
func TestEmbeddedPostgresLifecycle(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "assistant")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	embeddedEnv := map[string]string{"DATA_DIR": dataDir, "DATABASE_URL": ""} // as make run: no DATABASE_URL

	p := startBinary(t, bin, embeddedEnv)
	waitStatus(t, p.url+"/readyz", 200, 30*time.Second)
	installed := installedAt(t, dataDir)

	p.signal(t, syscall.SIGINT)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("server did not stop cleanly on SIGINT: %v", err)
	}
	if pids := postgresOf(dataDir); len(pids) > 0 {
		t.Fatalf("postgres processes left after Ctrl-C: %v", pids)
	}

	p = startBinary(t, bin, embeddedEnv)
	waitStatus(t, p.url+"/readyz", 200, 30*time.Second)
	if again := installedAt(t, dataDir); again != installed {
		t.Fatalf("data not reused: installed_at %q then %q", installed, again)
	}

	postmaster := postmasterPID(t, dataDir)
	p.signal(t, syscall.SIGKILL)
	_ = p.wait(10 * time.Second)
	if err := syscall.Kill(postmaster, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 postgres: %v", err)
	}
	time.Sleep(300 * time.Millisecond)

	p = startBinary(t, bin, embeddedEnv)
	waitStatus(t, p.url+"/readyz", 200, 30*time.Second)
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("server did not stop cleanly on SIGTERM: %v", err)
	}
}

type binaryProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startBinary runs bin serve with env on top of the test's environment (a
// fresh DATA_DIR unless env names one) and returns once it listens; the
// test's end stops it.
func startBinary(t *testing.T, bin string, env map[string]string) *binaryProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	dataDir := env["DATA_DIR"]
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "DATA_DIR="+dataDir)
	for k, v := range env {
		if k != "DATA_DIR" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &binaryProcess{cmd: cmd, done: make(chan error, 1)}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "listening on http://"); i >= 0 {
				select {
				case urlc <- strings.TrimSpace(sc.Text()[i+len("listening on "):]):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep draining: a full pipe would block the server
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = p.wait(30 * time.Second)
		stopLeftover(dataDir)
	})
	select {
	case p.url = <-urlc:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("binary exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("binary did not listen within 60s")
	}
	return p
}

func (p *binaryProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// kill ends the process with SIGKILL: no shutdown, no cleanup.
func (p *binaryProcess) kill(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
	if err := p.wait(10 * time.Second); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("killed binary did not exit")
	}
}

func (p *binaryProcess) wait(limit time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err // later waits see the same result
		return err
	case <-time.After(limit):
		return context.DeadlineExceeded
	}
}

func clusterOf(t *testing.T, dataDir string) *pgcluster.Cluster {
	t.Helper()
	bin, err := pgcluster.FindBinDir(os.Getenv("PG_BINDIR"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := pgcluster.New(pgcluster.Options{BinDir: bin, DataDir: filepath.Join(dataDir, "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func installedAt(t *testing.T, dataDir string) string {
	t.Helper()
	db, err := sqlx.Open("postgres", clusterOf(t, dataDir).DSN(embeddedDBName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.Get(&v, `SELECT value FROM app_meta WHERE key = 'installed_at'`); err != nil {
		t.Fatal(err)
	}
	return v
}

func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// postgresOf lists live postgres processes whose command line names dataDir.
func postgresOf(dataDir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "postgres") && strings.Contains(string(cmdline), dataDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopLeftover kills a postgres a failed test left behind.
func stopLeftover(dataDir string) {
	for _, pid := range postgresOf(dataDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
