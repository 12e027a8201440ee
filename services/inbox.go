package services

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// Inbox sources.
const (
	SourceWeCom = "wecom"
	SourceOA    = "oa"
)

// Inbox item states.
const (
	InboxPending = "pending"
	InboxDone    = "done"
	InboxDead    = "dead"
)

// InboxEvent is a verified, decrypted callback about to be stored.
type InboxEvent struct {
	CorpID   string
	Source   string // SourceWeCom or SourceOA
	DedupKey string
	Event    string // Event/ChangeType, shown to admins
	Payload  []byte // the decrypted XML
}

// InboxItem is a stored callback.
type InboxItem struct {
	ID            int64      `db:"id"`
	CorpID        string     `db:"corp_id"`
	Source        string     `db:"source"`
	DedupKey      string     `db:"dedup_key"`
	Event         string     `db:"event"`
	State         string     `db:"state"`
	Attempts      int        `db:"attempts"`
	LastError     string     `db:"last_error"`
	ReceivedAt    time.Time  `db:"received_at"`
	NextAttemptAt time.Time  `db:"next_attempt_at"`
	ProcessedAt   *time.Time `db:"processed_at"`
	Sealed        []byte     `db:"payload"`
	Payload       []byte     `db:"-"`
}

// InboxStats counts the inbox by state, for the admin page.
type InboxStats struct {
	Pending, Done, Dead int
	// OldestPending is the age of the oldest due pending item (the lag).
	OldestPending time.Duration
}

// InboxService stores callbacks durably and hands them to workers.
//
// Accept is the callback hot path: one INSERT … ON CONFLICT DO NOTHING, so a
// retried or replayed callback is stored once. Claim leases due items with
// FOR UPDATE SKIP LOCKED, so any number of workers in any number of
// instances never process one item at the same time; a worker that dies
// loses its lease and the item is claimed again after it.
type InboxService struct {
	db    *sqlx.DB
	box   *pii.Box
	audit *AuditService
	// MaxAttempts before an item becomes a dead letter.
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt (n ≥ 1).
	Backoff func(n int) time.Duration

	stmts stmtCache
	// accepting bounds the inserts in flight. Concurrent inserts into one
	// table contend for its newest pages, and on a small machine two dozen
	// of them queue behind a descheduled lock holder: at 2,000 callbacks/s on
	// 2 cores, 24 at once made the ack p99 34 ms, 4 at once 4 ms. Waiting
	// here costs a goroutine, not a backend.
	accepting chan struct{}
}

// NewInboxService returns the service.
func NewInboxService(db *sqlx.DB, box *pii.Box, audit *AuditService) *InboxService {
	return &InboxService{db: db, box: box, audit: audit, MaxAttempts: 8, Backoff: defaultBackoff,
		accepting: make(chan struct{}, acceptSlots())}
}

// acceptSlots is how many inbox inserts may run at once: two per core,
// at least 4.
func acceptSlots() int { return max(4, 2*runtime.NumCPU()) }

// defaultBackoff doubles from 2 s up to 10 minutes.
func defaultBackoff(n int) time.Duration {
	d := 2 * time.Second << min(n-1, 9)
	return min(d, 10*time.Minute)
}

const inboxColumn = "wecom_inbox.payload"

// Accept stores an event once per (corp, source, dedup key) and reports
// whether it was new.
func (s *InboxService) Accept(ctx context.Context, e InboxEvent) (bool, error) {
	args := []any{e.CorpID, e.Source, e.DedupKey, e.Event, s.box.Seal(inboxColumn, e.Payload)}
	// The ack waits on this insert alone, so it runs prepared (one round trip).
	st, err := s.stmts.get(ctx, s.db, acceptQuery)
	if err != nil {
		return false, fmt.Errorf("inbox: accept: %w", err)
	}
	select {
	case s.accepting <- struct{}{}:
		defer func() { <-s.accepting }()
	case <-ctx.Done():
		return false, fmt.Errorf("inbox: accept: %w", ctx.Err())
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return false, fmt.Errorf("inbox: accept: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

const acceptQuery = `INSERT INTO wecom_inbox (corp_id, source, dedup_key, event, payload) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (corp_id, source, dedup_key) DO NOTHING`

const inboxColumns = `id, corp_id, source, dedup_key, event, state, attempts, last_error, received_at,
	next_attempt_at, processed_at, payload`

// Claim leases up to n due items for lease and returns them, oldest first,
// with their payload opened. The lease counts as an attempt.
func (s *InboxService) Claim(ctx context.Context, n int, lease time.Duration) ([]InboxItem, error) {
	var items []InboxItem
	err := s.db.SelectContext(ctx, &items, `
		UPDATE wecom_inbox SET attempts = attempts + 1, locked_until = now() + make_interval(secs => $2)
		WHERE id IN (
			SELECT id FROM wecom_inbox
			WHERE state = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
			ORDER BY next_attempt_at, id LIMIT $1
			FOR UPDATE SKIP LOCKED)
		RETURNING `+inboxColumns, n, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("inbox: claim: %w", err)
	}
	for i := range items {
		if err := s.open(&items[i]); err != nil {
			return nil, err
		}
	}
	sortItems(items)
	return items, nil
}

func (s *InboxService) open(it *InboxItem) error {
	p, err := s.box.Open(inboxColumn, it.Sealed)
	if err != nil {
		return fmt.Errorf("inbox: open item %d: %w", it.ID, err)
	}
	it.Payload, it.Sealed = p, nil
	return nil
}

// sortItems orders by id: UPDATE … RETURNING does not keep the subquery's order.
func sortItems(items []InboxItem) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].ID < items[j-1].ID; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

// Done marks an item processed.
func (s *InboxService) Done(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE wecom_inbox SET state = 'done', processed_at = now(), locked_until = NULL, last_error = ''
		WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("inbox: done: %w", err)
	}
	return nil
}

// Fail records a failed attempt: the item is retried after the backoff, or
// becomes a dead letter when permanent is set or attempts ran out. It
// returns the new state. reason must not contain personal data.
func (s *InboxService) Fail(ctx context.Context, it InboxItem, reason string, permanent bool) (string, error) {
	state := InboxPending
	if permanent || it.Attempts >= s.MaxAttempts {
		state = InboxDead
	}
	wait := s.Backoff(max(it.Attempts, 1))
	_, err := s.db.ExecContext(ctx, `
		UPDATE wecom_inbox SET state = $2, last_error = $3, locked_until = NULL,
		       next_attempt_at = now() + make_interval(secs => $4)
		WHERE id = $1`, it.ID, state, truncate(reason, 500), wait.Seconds())
	if err != nil {
		return "", fmt.Errorf("inbox: fail: %w", err)
	}
	return state, nil
}

// DeadLetters lists parked items, newest first.
func (s *InboxService) DeadLetters(ctx context.Context, limit int) ([]InboxItem, error) {
	var items []InboxItem
	err := s.db.SelectContext(ctx, &items, `SELECT `+inboxColumns+` FROM wecom_inbox
		WHERE state = 'dead' ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("inbox: dead letters: %w", err)
	}
	for i := range items {
		items[i].Sealed = nil // the list never shows payloads
	}
	return items, nil
}

// Retry puts a dead letter back in the queue with fresh attempts, audited.
// Admins only. Errors: EFORBIDDEN, ENOTFOUND.
func (s *InboxService) Retry(ctx context.Context, id int64, by Actor) error {
	if err := by.requireAdmin(); err != nil {
		return err
	}
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE wecom_inbox SET state = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL
			WHERE id = $1 AND state = 'dead'`, id)
		if err != nil {
			return fmt.Errorf("inbox: retry: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "该死信不存在或已重试")
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP,
			Action: "inbox_retried", TargetKind: "wecom_inbox", TargetID: fmt.Sprint(id)})
	})
}

// Stats counts items by state.
func (s *InboxService) Stats(ctx context.Context) (InboxStats, error) {
	var r struct {
		Pending int     `db:"pending"`
		Done    int     `db:"done"`
		Dead    int     `db:"dead"`
		Lag     float64 `db:"lag"`
	}
	err := s.db.GetContext(ctx, &r, `
		SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'done') AS done,
		       count(*) FILTER (WHERE state = 'dead') AS dead,
		       coalesce(extract(epoch FROM now() - min(received_at) FILTER (WHERE state = 'pending')), 0) AS lag
		FROM wecom_inbox`)
	if err != nil {
		return InboxStats{}, fmt.Errorf("inbox: stats: %w", err)
	}
	return InboxStats{Pending: r.Pending, Done: r.Done, Dead: r.Dead,
		OldestPending: time.Duration(r.Lag * float64(time.Second))}, nil
}

// Prune deletes processed items older than keep. Their dedup keys go with
// them, so keep must exceed how long WeChat retries (seconds).
func (s *InboxService) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM wecom_inbox WHERE state = 'done'
		AND processed_at < now() - make_interval(secs => $1)`, keep.Seconds())
	if err != nil {
		return 0, fmt.Errorf("inbox: prune: %w", err)
	}
	return res.RowsAffected()
}

// callbackHead is what the dedup key and the admin list need of a decrypted
// callback.
type callbackHead struct {
	FromUserName string `xml:"FromUserName"`
	CreateTime   string `xml:"CreateTime"`
	MsgType      string `xml:"MsgType"`
	Event        string `xml:"Event"`
	ChangeType   string `xml:"ChangeType"`
	MsgID        string `xml:"MsgId"`
	MsgIDCaps    string `xml:"MsgID"` // TEMPLATESENDJOBFINISH spells it so
}

// scan reads the head through wxcrypto.ScanFlat, as encoding/xml would;
// false: decode it with encoding/xml.
func (h *callbackHead) scan(body []byte) bool {
	fields := [...]struct {
		name string
		f    *string
	}{{"FromUserName", &h.FromUserName}, {"CreateTime", &h.CreateTime}, {"MsgType", &h.MsgType},
		{"Event", &h.Event}, {"ChangeType", &h.ChangeType}, {"MsgId", &h.MsgID}, {"MsgID", &h.MsgIDCaps}}
	var seen [len(fields)]bool
	return wxcrypto.ScanFlat(body, "", func(name string, v []byte) bool {
		for i, fd := range fields {
			if fd.name != name {
				continue
			}
			if seen[i] { // encoding/xml keeps the last; leave such oddities to it
				return false
			}
			seen[i], *fd.f = true, string(v)
		}
		return true
	})
}

// ErrBadPayload marks a decrypted callback that is not a WeChat XML message.
var ErrBadPayload = errors.New("inbox: payload is not a callback message")

// NewInboxEvent derives the dedup key and the event label of a decrypted
// callback: MsgId for messages; for WeCom change_* events a hash of the
// content (their FromUserName is always "sys"); otherwise FromUserName +
// CreateTime + Event, as WeChat recommends.
func NewInboxEvent(corpID, source string, plaintext []byte) (InboxEvent, error) {
	var h callbackHead
	if !h.scan(plaintext) {
		h = callbackHead{}
		if err := xml.NewDecoder(bytes.NewReader(plaintext)).Decode(&h); err != nil {
			return InboxEvent{}, fmt.Errorf("%w: %v", ErrBadPayload, err)
		}
	}
	if h.MsgType == "" || h.CreateTime == "" {
		return InboxEvent{}, ErrBadPayload
	}
	e := InboxEvent{CorpID: corpID, Source: source, Payload: plaintext, Event: h.MsgType}
	if h.MsgType == "event" {
		e.Event = joinNonEmpty(h.Event, h.ChangeType)
	}
	switch {
	case h.MsgType != "event" && h.MsgID != "":
		e.DedupKey = "msg:" + h.MsgID
	case source == SourceWeCom && strings.HasPrefix(h.Event, "change_"):
		sum := sha256.Sum256(bytes.TrimSpace(plaintext))
		e.DedupKey = "sha256:" + hex.EncodeToString(sum[:])
	default:
		e.DedupKey = "ev:" + h.FromUserName + ":" + h.CreateTime + ":" + h.Event + ":" + h.MsgIDCaps
	}
	if len(e.DedupKey) > 300 {
		sum := sha256.Sum256([]byte(e.DedupKey))
		e.DedupKey = "sha256:" + hex.EncodeToString(sum[:])
	}
	return e, nil
}

func joinNonEmpty(a, b string) string {
	if b == "" {
		return a
	}
	return a + "/" + b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
