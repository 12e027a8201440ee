package services

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	ID         int64          `db:"id"`
	At         time.Time      `db:"at"`
	ActorKind  string         `db:"actor_kind"` // local, wecom, api_key, system
	ActorID    string         `db:"actor_id"`
	Action     string         `db:"action"`
	TargetKind string         `db:"target_kind"`
	TargetID   string         `db:"target_id"`
	Detail     map[string]any `db:"-"`
	DetailJSON []byte         `db:"detail"`
	IP         string         `db:"ip"`
}

// AuditFilter selects audit entries, newest first, with keyset paging.
type AuditFilter struct {
	Action    string
	ActorKind string
	ActorID   string
	BeforeID  int64 // 0: from the newest
	Limit     int
}

// AuditService appends to and reads the audit log.
type AuditService struct {
	db *sqlx.DB
}

// NewAuditService returns the service.
func NewAuditService(db *sqlx.DB) *AuditService { return &AuditService{db: db} }

const insertAudit = `
	INSERT INTO audit_log (actor_kind, actor_id, action, target_kind, target_id, detail, ip)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`

// Record appends an entry.
func (s *AuditService) Record(ctx context.Context, e AuditEntry) error {
	return s.exec(ctx, s.db, e)
}

// recordTx appends an entry inside the caller's transaction, so the audit row
// commits or rolls back with the change it describes.
func (s *AuditService) recordTx(ctx context.Context, tx *sqlx.Tx, e AuditEntry) error {
	return s.exec(ctx, tx, e)
}

func (s *AuditService) exec(ctx context.Context, ex sqlx.ExecerContext, e AuditEntry) error {
	detail, err := json.Marshal(e.Detail)
	if err != nil || e.Detail == nil {
		detail = []byte("{}")
	}
	if _, err := ex.ExecContext(ctx, insertAudit, e.ActorKind, e.ActorID, e.Action, e.TargetKind, e.TargetID, detail, e.IP); err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// List returns entries matching f, newest first.
func (s *AuditService) List(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var out []AuditEntry
	err := s.db.SelectContext(ctx, &out, `
		SELECT id, at, actor_kind, actor_id, action, target_kind, target_id, detail, ip FROM audit_log
		WHERE ($1 = '' OR action = $1) AND ($2 = '' OR actor_kind = $2) AND ($3 = '' OR actor_id = $3)
		  AND ($4 = 0 OR id < $4)
		ORDER BY id DESC LIMIT $5`, f.Action, f.ActorKind, f.ActorID, f.BeforeID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	for i := range out {
		_ = json.Unmarshal(out[i].DetailJSON, &out[i].Detail)
	}
	return out, nil
}
