// Package redistest runs a throwaway redis-server for a test, like pgtest does
// for PostgreSQL: in a temporary directory, on a unix socket only (no port to
// clash with parallel packages), with persistence off.
//
//	func TestX(t *testing.T) {
//		srv := redistest.Start(t) // stopped when the test ends
//		opt, _ := redis.ParseURL(srv.URL())
//	}
//
// Fault tests call Stop and Start to make Redis go away and come back at the
// same address.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// installHint tells how to get the server binary; make test runs the script.
const installHint = "install it with ./scripts/install-deps.sh (Debian: apt-get install redis-server)"

// bootTimeout bounds how long a start may take before the test fails.
const bootTimeout = 10 * time.Second

// Server is one redis-server process of a test.
type Server struct {
	bin  string
	dir  string
	sock string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs a redis-server for t and stops it when t ends. When the binary
// is missing the test is skipped, unless this process could install it (root
// with apt-get): then a skip would hide a broken setup, so the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Geteuid() == 0 && hasAptGet() {
			t.Fatalf("redistest: redis-server not found; %s", installHint)
		}
		t.Skipf("redistest: redis-server not found and not installable here (not root); %s", installHint)
	}
	// A short directory: a unix socket path must stay under 108 bytes, and
	// t.TempDir() names can be long.
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	t.Cleanup(func() {
		s.Stop(t)
		_ = os.RemoveAll(dir)
	})
	s.Start(t)
	return s
}

func hasAptGet() bool {
	_, err := exec.LookPath("apt-get")
	return err == nil
}

// URL is the go-redis URL of the server (unix socket, database 0).
func (s *Server) URL() string { return "unix://" + s.sock }

// Socket is the path of the server's unix socket.
func (s *Server) Socket() string { return s.sock }

// Start (re)starts a stopped server at the same socket, empty: persistence is
// off, as a cache restarted after a crash may well be.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatal("redistest: server already running")
	}
	cmd := exec.Command(s.bin, "--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no",
		"--loglevel", "warning", "--logfile", filepath.Join(s.dir, "redis.log"))
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	if err := waitReady(s.sock, bootTimeout); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		t.Fatalf("redistest: redis-server not ready: %v\n%s", err, log)
	}
}

// Stop kills the server at once (SIGKILL, like a crash) and waits for it; a
// stopped server stays stopped.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	// A killed server leaves its socket file behind; the next start replaces
	// it, but clients must see "refused" at once, not a stale file.
	_ = os.Remove(s.sock)
}

// waitReady pings the socket until the server answers PONG.
func waitReady(sock string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if last = ping(sock); last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("after %s: %w", timeout, last)
}

func ping(sock string) error {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("unexpected reply " + line)
	}
	return nil
}
