package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the "postgres" driver

	"github.com/marketing-assistant/assistant/migrations"
	"github.com/marketing-assistant/assistant/services/pgcluster"
)

// database is the open connection pool and, in embedded mode, the cluster
// the process started and must stop.
type database struct {
	DB      *sqlx.DB
	cluster *pgcluster.Cluster // nil unless this process must stop it on Close
	log     *slog.Logger
}

// clusterUse says who owns the embedded cluster's lifetime.
type clusterUse int

const (
	// ownCluster: the server owns it; it stops it on exit, even one it
	// adopted after a crash of an earlier server.
	ownCluster clusterUse = iota
	// borrowCluster: a tool (migrate, admin...) stops it only if it had to
	// start it, so running a tool next to a live server leaves it running.
	borrowCluster
)

// embeddedDBName is the database the app uses inside its embedded cluster.
const embeddedDBName = "assistant"

// openDatabase connects to DATABASE_URL, or starts the embedded cluster under
// DATA_DIR/postgres when it is unset, and waits until the database answers.
func openDatabase(ctx context.Context, cfg Config, log *slog.Logger, use clusterUse) (*database, error) {
	d := &database{log: log}
	dsn := cfg.DatabaseURL
	if dsn == "" {
		var err error
		if dsn, err = d.startEmbedded(ctx, cfg, use); err != nil {
			return nil, err
		}
	}
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		d.stopCluster()
		return nil, fmt.Errorf("database: open: %w", err)
	}
	configurePool(db)
	d.DB = db
	if err := waitForDB(ctx, db, 30*time.Second); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *database) startEmbedded(ctx context.Context, cfg Config, use clusterUse) (string, error) {
	bin, err := pgcluster.FindBinDir(cfg.PGBinDir)
	if err != nil {
		return "", fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	cl, err := pgcluster.New(pgcluster.Options{BinDir: bin, DataDir: filepath.Join(cfg.DataDir, "postgres"), Log: d.log})
	if err != nil {
		return "", fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	wasRunning := cl.Running()
	if err := cl.Start(ctx); err != nil {
		return "", fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	if use == ownCluster || !wasRunning {
		d.cluster = cl
	}
	if err := ensureDatabase(ctx, cl); err != nil {
		d.stopCluster()
		return "", err
	}
	d.log.Info("embedded PostgreSQL is running", "bin", bin, "data", filepath.Join(cfg.DataDir, "postgres"))
	return cl.DSN(embeddedDBName), nil
}

// ensureDatabase creates the app's database in the embedded cluster on first start.
func ensureDatabase(ctx context.Context, cl *pgcluster.Cluster) error {
	admin, err := sqlx.Open("postgres", cl.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer admin.Close()
	var exists bool
	if err := admin.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, embeddedDBName); err != nil {
		return fmt.Errorf("database: look up %s: %w", embeddedDBName, err)
	}
	if exists {
		return nil
	}
	if err := cl.CreateDatabase(ctx, embeddedDBName, ""); err != nil {
		return fmt.Errorf("database: create %s: %w", embeddedDBName, err)
	}
	return nil
}

// Pool sizing. Idle connections are kept up to the open limit: a pool that
// closes connections beyond a smaller idle limit reopens them under the next
// burst, and each reopen forks a PostgreSQL backend and re-plans the hot
// prepared statements, which showed as tens of milliseconds at p99. Idle
// connections are still closed after idleConnLife without traffic.
// warmConns are opened at start (services.WarmPool), so the first burst of
// callbacks does not wait for new backends.
const (
	maxOpenConns = 24
	idleConnLife = 5 * time.Minute
	warmConns    = 8
)

// configurePool applies the pool sizing; tests and benchmarks that stand in
// for the server use it too.
func configurePool(db *sqlx.DB) {
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(idleConnLife)
}

// waitForDB pings until the database answers, so that an external server that
// is still starting does not fail the app's start.
func waitForDB(ctx context.Context, db *sqlx.DB, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var err error
	for {
		if err = db.PingContext(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database: not reachable after %s: %w", limit, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// migrate applies pending migrations.
func (d *database) migrate(ctx context.Context) error {
	applied, err := migrations.Up(ctx, d.DB.DB, nil)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		d.log.Info("applied migrations", "versions", applied)
	}
	return nil
}

// Close closes the pool and stops the embedded cluster, if any.
func (d *database) Close() {
	if d.DB != nil {
		_ = d.DB.Close()
	}
	d.stopCluster()
}

func (d *database) stopCluster() {
	if d.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.cluster.Stop(ctx); err != nil {
		d.log.Error("stopping embedded PostgreSQL", "err", err)
		return
	}
	d.log.Info("embedded PostgreSQL stopped")
}
