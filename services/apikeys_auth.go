package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// APIKeyUse is what a request wants from its key, for the scope check and
// the audit log: the scope its route needs, the route (method and pattern,
// never the URL: a query may carry a phone number) and the caller's IP.
type APIKeyUse struct{ Scope, Route, IP string }

// Why a known key was refused (the refused column of authenticateSQL).
const (
	refusedRevoked = "revoked"
	refusedScope   = "scope"
)

// authenticateSQL finds the key by hash and, in the same statement, touches
// last_used_at (at most once a minute) and writes the audit row when one is
// due: api_key_used when the key is first used and then at most once an hour
// per key, api_key_refused (revoked, scope missing) at most once an hour per
// key. The UPDATE's WHERE decides it: a concurrent request on another
// instance waits for the row lock, re-reads the row and finds nothing due, so
// instances never both write the row.
const authenticateSQL = `WITH k AS (
    SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at,
        CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
             WHEN NOT ($3::text = ANY (scopes)) THEN 'scope' ELSE '' END AS refused
    FROM api_keys WHERE key_hash = $1
), used AS (
    UPDATE api_keys a SET last_used_at = $2::timestamptz,
        use_audited_at = CASE WHEN a.use_audited_at IS NULL OR a.use_audited_at < $2::timestamptz - interval '1 hour'
            THEN $2::timestamptz ELSE a.use_audited_at END
    FROM k WHERE a.id = k.id AND k.refused = ''
      AND (a.last_used_at IS NULL OR a.last_used_at < $2::timestamptz - interval '1 minute'
        OR a.use_audited_at IS NULL OR a.use_audited_at < $2::timestamptz - interval '1 hour')
    RETURNING a.id, a.use_audited_at = $2::timestamptz AS due
), refused AS (
    UPDATE api_keys a SET refused_audited_at = $2::timestamptz
    FROM k WHERE a.id = k.id AND k.refused <> ''
      AND (a.refused_audited_at IS NULL OR a.refused_audited_at < $2::timestamptz - interval '1 hour')
    RETURNING a.id
), audited AS (
    INSERT INTO audit_log (actor_kind, actor_id, action, target_kind, target_id, detail, ip)
    SELECT 'api_key', k.id::text, CASE WHEN k.refused = '' THEN 'api_key_used' ELSE 'api_key_refused' END,
        'api_key', k.id::text,
        jsonb_strip_nulls(jsonb_build_object('name', k.name, 'scope', $3::text, 'route', $4::text,
            'reason', NULLIF(k.refused, ''))), $5::text
    FROM k WHERE k.id IN (SELECT id FROM used WHERE due UNION ALL SELECT id FROM refused)
)
SELECT id, name, prefix, scopes, created_at, last_used_at, revoked_at, refused FROM k`

// Authenticate returns the live key for a secret when it carries use.Scope,
// auditing its use as authenticateSQL says. Errors: EUNAUTHORIZED (unknown
// or revoked key), EFORBIDDEN (the key lacks the scope).
func (s *APIKeyService) Authenticate(ctx context.Context, secret string, use APIKeyUse) (APIKey, error) {
	if !strings.HasPrefix(secret, apiKeyPrefix) {
		return APIKey{}, Errorf(EUNAUTHORIZED, "API 密钥无效")
	}
	var k struct {
		APIKey
		Refused string `db:"refused"`
	}
	st, err := s.stmts.get(ctx, s.db, authenticateSQL)
	if err == nil {
		err = st.GetContext(ctx, &k, hashKey(secret), s.now(), use.Scope, use.Route, use.IP)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// An unknown key is not audited: it names no row to hang a
		// once-an-hour limit on, and its prefix is whatever the caller
		// sent, so a limit per prefix would still let a scanner fill the
		// append-only log, which can never be pruned. The request log
		// (method, route, status) keeps the 401s.
		return APIKey{}, Errorf(EUNAUTHORIZED, "API 密钥无效或已吊销")
	case err != nil:
		return APIKey{}, fmt.Errorf("apikeys: authenticate: %w", err)
	case k.Refused == refusedRevoked:
		return APIKey{}, Errorf(EUNAUTHORIZED, "API 密钥无效或已吊销")
	case k.Refused == refusedScope:
		return APIKey{}, Errorf(EFORBIDDEN, "API 密钥缺少权限 %s", use.Scope)
	}
	return k.APIKey, nil
}
