package services

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// API key scopes.
const (
	ScopeIdentitiesWrite = "identities:write" // push CRM records
	ScopeUsersRead       = "users:read"       // look up marketing users and their moments
	ScopePIIRead         = "pii:read"         // see phone numbers unmasked
)

// APIScopes lists every scope.
var APIScopes = []string{ScopeIdentitiesWrite, ScopeUsersRead, ScopePIIRead}

// APIKey is a CRM API key. Only a hash of the secret is stored.
type APIKey struct {
	ID         int64          `db:"id"`
	Name       string         `db:"name"`
	Prefix     string         `db:"prefix"` // shown to tell keys apart
	Scopes     pq.StringArray `db:"scopes"`
	CreatedAt  time.Time      `db:"created_at"`
	LastUsedAt *time.Time     `db:"last_used_at"`
	RevokedAt  *time.Time     `db:"revoked_at"`
}

// Has reports whether the key carries scope.
func (k APIKey) Has(scope string) bool { return slices.Contains(k.Scopes, scope) }

// APIKeyService creates and checks API keys and keeps Idempotency-Key
// answers. Creating, revoking and using keys is audited.
type APIKeyService struct {
	db    *sqlx.DB
	audit *AuditService
	now   func() time.Time
	stmts stmtCache // Authenticate runs on every API request
}

// NewAPIKeyService returns the service.
func NewAPIKeyService(db *sqlx.DB) *APIKeyService {
	return &APIKeyService{db: db, audit: NewAuditService(db), now: time.Now}
}

const apiKeyPrefix = "mak_"

func hashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateAPIKey creates a key and returns it with its secret, which is shown
// this once and never stored; by is audited with the key's name and scopes.
// Errors: EINVALID (name, unknown scope).
func (s *APIKeyService) CreateAPIKey(ctx context.Context, name string, scopes []string, by Actor) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if err := validateAPIKey(name, scopes); err != nil {
		return APIKey{}, "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return APIKey{}, "", err
	}
	secret := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	var k APIKey
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &k, `INSERT INTO api_keys (name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4)
RETURNING id, name, prefix, scopes, created_at, last_used_at, revoked_at`,
			name, secret[:len(apiKeyPrefix)+6], hashKey(secret), pq.StringArray(scopes))
		if err != nil {
			return fmt.Errorf("apikeys: create: %w", err)
		}
		return s.audit.recordTx(ctx, tx, apiKeyAudit("api_key_created", k, by))
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

func validateAPIKey(name string, scopes []string) error {
	fields := map[string]string{}
	if name == "" || len(name) > 100 {
		fields["name"] = "请填写名称（不超过 100 字）"
	}
	if len(scopes) == 0 {
		fields["scopes"] = "至少需要一个权限：" + strings.Join(APIScopes, ",")
	}
	for _, sc := range scopes {
		if !slices.Contains(APIScopes, sc) {
			fields["scopes"] = "未知的权限 " + sc + "（可选：" + strings.Join(APIScopes, ",") + "）"
		}
	}
	if len(fields) > 0 {
		return Invalid("API 密钥参数无效", fields)
	}
	return nil
}

// apiKeyAudit is the audit row of a change to key k: its id, name and
// scopes, never its secret nor its prefix.
func apiKeyAudit(action string, k APIKey, by Actor) AuditEntry {
	return AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: action,
		TargetKind: "api_key", TargetID: strconv.FormatInt(k.ID, 10),
		Detail: map[string]any{"name": k.Name, "scopes": []string(k.Scopes)}}
}

// APIKeys lists the keys, newest first.
func (s *APIKeyService) APIKeys(ctx context.Context) ([]APIKey, error) {
	var ks []APIKey
	err := s.db.SelectContext(ctx, &ks, `SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at
FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("apikeys: list: %w", err)
	}
	return ks, nil
}

// RevokeAPIKey revokes a key and audits by. Errors: ENOTFOUND.
func (s *APIKeyService) RevokeAPIKey(ctx context.Context, id int64, by Actor) error {
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var k APIKey
		err := tx.GetContext(ctx, &k, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL
RETURNING id, name, prefix, scopes, created_at, last_used_at, revoked_at`, id, s.now())
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "API 密钥不存在或已吊销")
		}
		if err != nil {
			return fmt.Errorf("apikeys: revoke: %w", err)
		}
		return s.audit.recordTx(ctx, tx, apiKeyAudit("api_key_revoked", k, by))
	})
}

// IdempotentAnswer is a stored answer to replay.
type IdempotentAnswer struct {
	Status int
	Body   []byte
}

// BeginIdempotent reserves an Idempotency-Key for a request. It returns the
// stored answer when the same request was answered before, nil when the
// caller should proceed (and later call FinishIdempotent or
// AbandonIdempotent). Errors: EINVALID (key), ECONFLICT (same key with
// another body, or the first request is still running).
func (s *APIKeyService) BeginIdempotent(ctx context.Context, keyID int64, idemKey string, body []byte) (*IdempotentAnswer, error) {
	if idemKey == "" || len(idemKey) > 200 {
		return nil, Invalid("Idempotency-Key 无效", map[string]string{"Idempotency-Key": "1–200 个字符"})
	}
	h := sha256.Sum256(body)
	s.pruneIdempotency(ctx)
	// An expired record, or a reservation whose request never finished (the
	// server stopped mid-request), is taken over by this request.
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_idempotency (api_key_id, idem_key, request_hash)
VALUES ($1, $2, $3) ON CONFLICT (api_key_id, idem_key) DO UPDATE
SET request_hash = EXCLUDED.request_hash, status = 0, response = NULL, created_at = now()
WHERE api_idempotency.created_at < now() - make_interval(secs => $4)
   OR (api_idempotency.status = 0 AND api_idempotency.created_at < now() - make_interval(secs => $5))`,
		keyID, idemKey, h[:], IdempotencyTTL.Seconds(), idempotencyAbandoned.Seconds())
	if err != nil {
		return nil, fmt.Errorf("apikeys: idempotency: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil
	}
	var row struct {
		Hash     []byte `db:"request_hash"`
		Status   int    `db:"status"`
		Response []byte `db:"response"`
	}
	if err := s.db.GetContext(ctx, &row, `SELECT request_hash, status, response FROM api_idempotency
WHERE api_key_id = $1 AND idem_key = $2`, keyID, idemKey); err != nil {
		return nil, fmt.Errorf("apikeys: idempotency: %w", err)
	}
	if string(row.Hash) != string(h[:]) {
		return nil, Errorf(ECONFLICT, "Idempotency-Key 已用于另一个请求")
	}
	if row.Status == 0 {
		return nil, Errorf(ECONFLICT, "相同 Idempotency-Key 的请求仍在处理")
	}
	return &IdempotentAnswer{Status: row.Status, Body: row.Response}, nil
}

// IdempotencyTTL is how long an Idempotency-Key replays its answer (as
// Stripe's API does: a retry comes within minutes, a day covers every retry
// policy); afterwards the key is free again and its record is pruned.
const IdempotencyTTL = 24 * time.Hour

// idempotencyAbandoned is how long an unfinished reservation blocks its key:
// longer than any request may run (the server's write timeout).
const idempotencyAbandoned = 10 * time.Minute

// pruneIdempotency deletes expired records now and then (about one call in
// 500, at most 1,000 rows): the table stays small without a scheduler.
func (s *APIKeyService) pruneIdempotency(ctx context.Context) {
	if mrand.IntN(500) != 0 {
		return
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM api_idempotency WHERE ctid = ANY (ARRAY(
SELECT ctid FROM api_idempotency WHERE created_at < now() - make_interval(secs => $1) LIMIT 1000))`,
		IdempotencyTTL.Seconds())
	// A failed prune only delays it: the statement that follows reports a
	// broken database, and expired records are taken over anyway.
	_ = err
}

// FinishIdempotent stores the answer to replay.
func (s *APIKeyService) FinishIdempotent(ctx context.Context, keyID int64, idemKey string, a IdempotentAnswer) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_idempotency SET status = $3, response = $4
WHERE api_key_id = $1 AND idem_key = $2`, keyID, idemKey, a.Status, a.Body)
	if err != nil {
		return fmt.Errorf("apikeys: idempotency: %w", err)
	}
	return nil
}

// AbandonIdempotent frees a reservation after a failure, so a retry runs.
func (s *APIKeyService) AbandonIdempotent(ctx context.Context, keyID int64, idemKey string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM api_idempotency WHERE api_key_id = $1 AND idem_key = $2 AND status = 0`,
		keyID, idemKey)
	if err != nil {
		return fmt.Errorf("apikeys: idempotency: %w", err)
	}
	return nil
}
