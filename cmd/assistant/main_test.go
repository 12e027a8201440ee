package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

func TestMain(m *testing.M) { pgtest.Main(m, browsertest.Close) }

// testServer is a `serve` command running in-process.
type testServer struct {
	URL  string
	stop func() error
	done chan error
}

// startServer runs `assistant serve` with env in a goroutine and returns once
// it listens. The server stops at the end of the test. Demo mode is off unless
// env turns it on.
func startServer(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	s, err := launchServer(env, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	})
	return s
}

// launchServer is startServer without the testing.T, so tests can start
// several servers from goroutines; the caller must call stop.
func launchServer(env map[string]string, dataDir string) (*testServer, error) {
	full := map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": dataDir, "LOG_LEVEL": "warn", "SANDBOX": "off"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &testServer{done: make(chan error, 1)}
	go func() {
		err := run(ctx, []string{"serve"}, pw, envOf(full))
		pw.CloseWithError(fmt.Errorf("server exited: %v", err))
		s.done <- err
	}()
	urlc := make(chan string, 1)
	go scanForURL(pr, urlc)
	select {
	case s.URL = <-urlc:
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("server exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("server did not listen within 60s")
	}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-s.done
		})
		return stopErr
	}
	return s, nil
}

func scanForURL(r io.Reader, urlc chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "listening on http://"); i >= 0 && !sent {
			urlc <- strings.TrimSpace(line[i+len("listening on "):])
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := 0
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			last = resp.StatusCode
			resp.Body.Close()
			if last == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: status %d, want %d within %s", url, last, want, within)
}

func TestTwoInstancesOnOneEmptyDatabase(t *testing.T) {
	dsn := pgtest.NewEmptyDSN(t)
	// Instances of one deployment share their keys; each has its own data dir.
	env := map[string]string{"DATABASE_URL": dsn,
		"SESSION_KEY":    base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))}
	var servers [2]*testServer
	var errs [2]error
	var wg sync.WaitGroup
	for i := range servers {
		dir := t.TempDir()
		wg.Add(1)
		go func() { defer wg.Done(); servers[i], errs[i] = launchServer(env, dir) }()
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = s.stop() })
	}
	for _, s := range servers {
		waitStatus(t, s.URL+"/readyz", http.StatusOK, 10*time.Second)
	}
	db := pgtest.Open(t, dsn)
	var applied, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Fatalf("migrations applied %d times for %d versions", applied, distinct)
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	s := startServer(t, map[string]string{"DATABASE_URL": pgtest.NewDSN(t)})
	waitStatus(t, s.URL+"/readyz", http.StatusOK, 5*time.Second)
	waitStatus(t, s.URL+"/healthz", http.StatusOK, time.Second)
	cl := pgtest.Cluster()
	if err := cl.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = cl.Start(context.Background())
		}
	})
	waitStatus(t, s.URL+"/readyz", http.StatusServiceUnavailable, 10*time.Second)
	waitStatus(t, s.URL+"/healthz", http.StatusOK, time.Second)
	if err := cl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitStatus(t, s.URL+"/readyz", http.StatusOK, 15*time.Second)
}

func TestLandingPage(t *testing.T) {
	s := startServer(t, map[string]string{"DATABASE_URL": pgtest.NewDSN(t)})
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/admin") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("landing: %d %q", resp.StatusCode, body)
	}
}
