package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"os/user"
	"regexp"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgtest"
)

// toolEnv is the environment of the tools and the server in these tests:
// keys are set, so nothing warns on stdout about generating them.
func toolEnv(dsn string) map[string]string {
	return map[string]string{"DATABASE_URL": dsn,
		"SESSION_KEY":    base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))}
}

// runTool runs a command against the database at dsn and returns its output.
func runTool(t *testing.T, dsn string, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	env := toolEnv(dsn)
	env["DATA_DIR"] = t.TempDir()
	err := run(t.Context(), args, &out, envOf(env))
	return out.String(), err
}

// mustRunTool is runTool for a command that must succeed.
func mustRunTool(t *testing.T, dsn string, args ...string) string {
	t.Helper()
	out, err := runTool(t, dsn, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

// auditRows returns "actor action target detail" for the audit rows of
// actions, oldest first.
func auditRows(t *testing.T, db *sqlx.DB, actions ...string) []string {
	t.Helper()
	var rows []string
	err := db.Select(&rows, `SELECT actor_kind || ':' || actor_id || ' ' || action || ' ' || target_kind || ':' || target_id
    || ' ' || detail::text FROM audit_log WHERE action = ANY ($1) ORDER BY id`, actions)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func osUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no OS user: %v", err)
	}
	return u.Username
}

var createdKeyRE = regexp.MustCompile(`^API key (\d+) "crm" \(users:read\)\n\n  (mak_\S+)\n\nShown once`)

// apikey create prints the key once and stores only its hash; list shows
// its prefix; revoke stops the API from taking it. Each change is audited
// with the OS user, and no audit row or list line carries the key.
func TestAPIKeyCommands(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	out := mustRunTool(t, dsn, "apikey", "create", "--name", "crm", "--scopes", "users:read")
	m := createdKeyRE.FindStringSubmatch(out)
	if m == nil || strings.Count(out, m[2]) != 1 {
		t.Fatalf("create printed %q", out)
	}
	id, secret := m[1], m[2]
	var stored struct {
		Hash   []byte `db:"key_hash"`
		Prefix string `db:"prefix"`
		Row    string `db:"row"`
	}
	if err := db.Get(&stored, `SELECT key_hash, prefix, k::text AS row FROM api_keys k WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256([]byte(secret)); string(stored.Hash) != string(h[:]) || strings.Contains(stored.Row, secret[len(stored.Prefix):]) {
		t.Fatalf("stored %+v: want the key's SHA-256 and not the key", stored)
	}
	list := mustRunTool(t, dsn, "apikey", "list")
	if list != id+"\t"+stored.Prefix+"…\tcrm\tusers:read\tactive\n" {
		t.Fatalf("list printed %q", list)
	}
	s := startServer(t, toolEnv(dsn))
	if status := getWithKey(t, s.URL+"/api/v1/marketing-users/1", secret); status != http.StatusNotFound {
		t.Fatalf("live key: status %d, want 404 (no such user)", status)
	}
	if out := mustRunTool(t, dsn, "apikey", "revoke", id); out != "API key "+id+" revoked\n" {
		t.Fatalf("revoke printed %q", out)
	}
	for range 2 {
		if status := getWithKey(t, s.URL+"/api/v1/marketing-users/1", secret); status != http.StatusUnauthorized {
			t.Fatalf("revoked key: status %d, want 401", status)
		}
	}
	if list := mustRunTool(t, dsn, "apikey", "list"); !strings.HasSuffix(list, "\trevoked\n") || strings.Contains(list, secret) {
		t.Fatalf("list after revoke printed %q", list)
	}
	wantAPIKeyAudit(t, db, id, secret)
}

// wantAPIKeyAudit checks the rows TestAPIKeyCommands leaves: created and
// revoked by the OS user, one use and one refusal by the key.
func wantAPIKeyAudit(t *testing.T, db *sqlx.DB, id, secret string) {
	t.Helper()
	cli := "system:cli:" + osUser(t)
	want := []string{
		cli + ` api_key_created api_key:` + id + ` {"name": "crm", "scopes": ["users:read"]}`,
		`api_key:` + id + ` api_key_used api_key:` + id + ` {"name": "crm", "route": "GET /api/v1/marketing-users/:id", "scope": "users:read"}`,
		cli + ` api_key_revoked api_key:` + id + ` {"name": "crm", "scopes": ["users:read"]}`,
		`api_key:` + id + ` api_key_refused api_key:` + id + ` {"name": "crm", "route": "GET /api/v1/marketing-users/:id", "scope": "users:read", "reason": "revoked"}`,
	}
	got := auditRows(t, db, "api_key_created", "api_key_used", "api_key_revoked", "api_key_refused")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM audit_log a WHERE strpos(a::text, $1) > 0`, secret[4:14]); err != nil || n != 0 {
		t.Fatalf("%d audit rows carry the key (%v)", n, err)
	}
}

func getWithKey(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// apikey refuses bad input with the reason and writes nothing.
func TestAPIKeyCommandErrors(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	for _, c := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"apikey"}, true, "apikey create|list|revoke"},
		{[]string{"apikey", "rotate"}, true, "apikey create|list|revoke"},
		{[]string{"apikey", "revoke", "x"}, true, "apikey revoke ID"},
		{[]string{"apikey", "revoke", "42"}, false, "API 密钥不存在或已吊销"},
		{[]string{"apikey", "create", "--name", "crm", "--scopes", "admin"}, false, "未知的权限 admin"},
		{[]string{"apikey", "create", "--scopes", "users:read"}, false, "请填写名称"},
	} {
		_, err := runTool(t, dsn, c.args...)
		if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want usage=%v and %q", c.args, err, c.usage, c.want)
		}
	}
	var n int
	if err := db.Get(&n, `SELECT (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM audit_log WHERE action LIKE 'api_key%')`); err != nil || n != 0 {
		t.Fatalf("%d keys or audit rows left by refused commands (%v)", n, err)
	}
}
