// Package pgtest gives each test package one throwaway PostgreSQL cluster and
// each test a fresh, migrated database cloned from a template.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		db := pgtest.NewDB(t) // *sqlx.DB on its own database, dropped afterwards
//	}
//
// The cluster starts on the first NewDB, NewDSN or Cluster call, so a package
// whose tests never ask for a database pays nothing. It lives in a temporary
// directory (never the developer's data dir), listens on a unix socket only,
// and runs with fsync off. Main stops it and removes the directory; should the
// test binary die first (panic, -timeout, kill), a watchdog process does.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/migrations"
	"github.com/marketing-assistant/assistant/services/pgcluster"
)

// templateDB is the migrated database every test database is copied from.
const templateDB = "tmpl"

// bootTimeout bounds initdb, start and migrations.
const bootTimeout = 2 * time.Minute

// state is the package's cluster. A package-level variable is unavoidable:
// TestMain and the tests share nothing else.
var state struct {
	mu       sync.Mutex
	booted   bool
	dir      string
	cluster  *pgcluster.Cluster
	err      error
	watchdog *os.File // write end of the watchdog's stdin; see startWatchdog
	seq      atomic.Int64
}

// Main runs the package's tests, then the after functions (e.g. stopping a
// shared browser), then stops the cluster (if one was started), removes its
// directory and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M, after ...func()) {
	code := m.Run()
	for _, f := range after {
		f()
	}
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Cluster returns the package's running cluster, starting it if needed, for
// fault tests that stop and restart PostgreSQL. It panics when the cluster
// cannot start. A test that stops the cluster must start it again.
func Cluster() *pgcluster.Cluster {
	c, err := ensure()
	if err != nil {
		panic(err)
	}
	return c
}

// NewDSN creates a database cloned from the migrated template and returns its
// connection string, for servers the test starts. The database is dropped
// when the test ends, connections or not.
func NewDSN(t testing.TB) string {
	t.Helper()
	return newDatabase(t, templateDB)
}

// NewEmptyDSN creates an empty database (no migrations applied), for tests of
// the migration path itself, and returns its connection string.
func NewEmptyDSN(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "")
}

// Open opens dsn with sqlx and closes it when the test ends.
func Open(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newDatabase(t testing.TB, template string) string {
	t.Helper()
	c, err := ensure()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("t%d", state.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, name, template); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(c, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c.DSN(name)
}

// NewDB is NewDSN opened with sqlx and lib/pq; it is closed before the
// database is dropped.
func NewDB(t testing.TB) *sqlx.DB {
	t.Helper()
	return Open(t, NewDSN(t))
}

// drop removes a test database, ending any connections the test left open.
// A cluster a fault test left stopped is skipped: teardown discards it whole.
func drop(c *pgcluster.Cluster, name string) error {
	if !c.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return execAdmin(ctx, c, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
}

// execAdmin runs one statement on the maintenance database over a fresh
// connection; a pooled one would break when a fault test restarts the server.
func execAdmin(ctx context.Context, c *pgcluster.Cluster, q string) error {
	db, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q)
	return err
}

// ensure starts the cluster on first use; a failure sticks, so every test
// reports it.
func ensure() (*pgcluster.Cluster, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	if !state.booted {
		state.booted = true
		began := time.Now()
		state.cluster, state.err = boot()
		if state.err == nil && testing.Verbose() {
			fmt.Fprintf(os.Stderr, "pgtest: cluster and template ready in %v\n", time.Since(began).Round(time.Millisecond))
		}
	}
	return state.cluster, state.err
}

// boot starts a Fast cluster in a new temporary directory and migrates the
// template database.
func boot() (*pgcluster.Cluster, error) {
	bin, err := pgcluster.FindBinDir(os.Getenv("PG_BINDIR"))
	if err != nil {
		// No silent skip: the suite is meant to run on real PostgreSQL.
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if state.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	dataDir := filepath.Join(state.dir, "data")
	c, err := pgcluster.New(pgcluster.Options{BinDir: bin, DataDir: dataDir, Fast: true})
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if state.watchdog, err = startWatchdog(dataDir, state.dir); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	// On failure c is still returned, so that teardown stops whatever started.
	if err := c.Start(ctx); err != nil {
		return c, fmt.Errorf("pgtest: %w", err)
	}
	if err := migrateTemplate(ctx, c); err != nil {
		return c, fmt.Errorf("pgtest: %w", err)
	}
	return c, nil
}

// migrateTemplate creates the template database and applies all migrations.
// Its connections are closed before returning: CREATE DATABASE ... TEMPLATE
// refuses a template anyone is connected to.
func migrateTemplate(ctx context.Context, c *pgcluster.Cluster) error {
	if err := c.CreateDatabase(ctx, templateDB, ""); err != nil {
		return err
	}
	db, err := sql.Open("postgres", c.DSN(templateDB))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = migrations.Up(ctx, db, nil)
	return err
}

// teardown kills the cluster (its data is thrown away, so no checkpoint) and
// removes its directory.
func teardown() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	var err error
	if state.cluster != nil {
		err = state.cluster.Kill()
	}
	if state.dir != "" {
		if rmErr := os.RemoveAll(state.dir); err == nil {
			err = rmErr
		}
	}
	if state.watchdog != nil {
		state.watchdog.Close() // nothing left for it to clean: it just exits
	}
	return err
}
