package pgtest_test

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDBGivesIsolatedMigratedDatabases(t *testing.T) {
	t.Parallel()
	began := time.Now()
	a := pgtest.NewDB(t)
	t.Logf("first NewDB (with cluster start and migrations unless another test came first) took %v", time.Since(began))
	began = time.Now()
	b := pgtest.NewDB(t)
	t.Logf("second NewDB took %v", time.Since(began))

	if _, err := a.Exec(`INSERT INTO app_meta (key, value) VALUES ('only_in_a', 'x')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		db   *sqlx.DB
		want int
	}{{"a", a, 1}, {"b", b, 0}}
	for _, tt := range tests {
		var n int
		if err := tt.db.Get(&n, `SELECT count(*) FROM app_meta WHERE key = 'only_in_a'`); err != nil {
			t.Fatal(err)
		}
		if n != tt.want {
			t.Errorf("database %s has %d only_in_a rows, want %d", tt.name, n, tt.want)
		}
		// The row the migration inserted proves the clone is migrated.
		if err := tt.db.Get(&n, `SELECT count(*) FROM app_meta WHERE key = 'installed_at'`); err != nil || n != 1 {
			t.Errorf("database %s: installed_at rows = %d, %v; want 1", tt.name, n, err)
		}
	}
}

func TestParallelNewDB(t *testing.T) {
	for i := range 4 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			db := pgtest.NewDB(t)
			if _, err := db.Exec(`INSERT INTO app_meta (key, value) VALUES ('n', $1)`, i); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewDSNDroppedDespiteOpenConnections(t *testing.T) {
	t.Parallel()
	var dsn string
	var leaked *sqlx.DB
	t.Run("leaves a connection open", func(t *testing.T) {
		dsn = pgtest.NewDSN(t)
		var err error
		if leaked, err = sqlx.Connect("postgres", dsn); err != nil {
			t.Fatal(err)
		}
	})
	defer leaked.Close()
	// The subtest's cleanup dropped the database despite the open connection.
	if db, err := sqlx.Connect("postgres", dsn); err == nil {
		db.Close()
		t.Fatal("database still exists after its test ended")
	}
}

func TestClusterRestart(t *testing.T) {
	// Not parallel: it stops the cluster the other tests use.
	db := pgtest.NewDB(t)
	if err := db.Ping(); err != nil { // leaves a pooled connection to break
		t.Fatal(err)
	}
	c := pgtest.Cluster()
	if err := c.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM app_meta`); err != nil {
		t.Fatal(err)
	}
}
