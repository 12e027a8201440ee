// Package pgcluster runs a private PostgreSQL cluster from the system's
// PostgreSQL binaries: the embedded database of `assistant serve` and the
// throwaway clusters of the tests.
//
// The server listens on a unix socket only (no TCP port), so any number of
// clusters can run side by side. When the process runs as root the server runs
// as the `postgres` user, because PostgreSQL refuses to run as root.
//
// Start is safe after a crash: it adopts a postmaster that is still serving
// this data directory, waits for the children of a killed postmaster to exit,
// and clears lock files whose pid now belongs to an unrelated process.
package pgcluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// Port is the port number in the socket file name (.s.PGSQL.5432). No TCP
// port is opened, so every cluster can use the same one.
const Port = 5432

// startTimeout bounds Start when the caller's context has no deadline; crash
// recovery of a large cluster can take a while, so it is generous.
const startTimeout = 2 * time.Minute

// Options configure a Cluster.
type Options struct {
	BinDir    string       // directory with initdb, pg_ctl and postgres; see FindBinDir
	DataDir   string       // PGDATA; created and initialised on first Start
	SocketDir string       // unix socket directory; default DataDir, or a short /tmp dir when DataDir is too long
	Fast      bool         // tests only: no fsync, no durability across a machine crash
	Log       *slog.Logger // may be nil
}

// Cluster is one PostgreSQL data directory and the server that serves it.
// Its methods are safe for concurrent use.
type Cluster struct {
	opts      Options
	socketDir string
	logFile   string
	cred      *syscall.Credential // the postgres user when we are root; nil otherwise
	log       *slog.Logger
	mu        sync.Mutex // serialises Start, Stop and Kill
}

// New checks opts and returns a Cluster; it touches nothing on disk.
func New(opts Options) (*Cluster, error) {
	if opts.BinDir == "" || opts.DataDir == "" {
		return nil, errors.New("pgcluster: BinDir and DataDir are required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: data dir: %w", err)
	}
	opts.DataDir = dataDir
	c := &Cluster{opts: opts, log: opts.Log, logFile: dataDir + ".log"}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := checkShellSafe(dataDir); err != nil {
		return nil, err
	}
	if c.cred, err = serverCredential(); err != nil {
		return nil, err
	}
	if c.socketDir, err = chooseSocketDir(opts.SocketDir, dataDir); err != nil {
		return nil, err
	}
	if opts.SocketDir == "" && c.socketDir != dataDir {
		c.log.Info("pgcluster: data dir too long for a unix socket path, using a short socket dir",
			"data_dir", dataDir, "socket_dir", c.socketDir)
	}
	return c, nil
}

// checkShellSafe rejects paths that pg_ctl cannot quote: it pastes the data
// dir and log file between double quotes into a /bin/sh command line.
func checkShellSafe(path string) error {
	if strings.ContainsAny(path, "\"$`\\\n") {
		return fmt.Errorf("pgcluster: data dir %q: must not contain \" $ ` \\ or newlines", path)
	}
	return nil
}

// DataDir returns the absolute data directory.
func (c *Cluster) DataDir() string { return c.opts.DataDir }

// SocketDir returns the directory holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.socketDir }

// LogFile returns the server log, next to the data directory.
func (c *Cluster) LogFile() string { return c.logFile }

// DSN returns a lib/pq connection string for database dbname as superuser
// postgres. Trust authentication is safe because only the server user (and
// root) can enter the socket directory, which is 0700.
func (c *Cluster) DSN(dbname string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable",
		dsnValue(c.socketDir), Port, dsnValue(dbname))
}

// dsnValue quotes a key/value connection string value when it needs it.
func dsnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, `'`, `\'`) + "'"
}

// CreateDatabase creates database name, copied from template when it is not
// empty. CREATE DATABASE fails when the template has open connections.
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	q := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if template != "" {
		q += " TEMPLATE " + pq.QuoteIdentifier(template)
	}
	db, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	return nil
}

// ping connects through the socket, proving the server accepts connections.
func (c *Cluster) ping(ctx context.Context) error {
	db, err := sql.Open("postgres", c.DSN("postgres")+" connect_timeout=5")
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}
