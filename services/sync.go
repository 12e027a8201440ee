package services

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// SyncKind names what a sync job mirrors from WeCom or the Official Account.
type SyncKind string

// Sync kinds, in the order an admin usually runs them.
const (
	SyncEmployees SyncKind = "employees" // departments and members
	SyncTags      SyncKind = "tags"      // corp customer tags
	SyncContacts  SyncKind = "contacts"  // customers and their relations (batch/get_by_user)
	SyncGroups    SyncKind = "groups"    // customer groups and their members
	SyncFans      SyncKind = "fans"      // Official Account followers
)

// SyncKinds lists every kind.
var SyncKinds = []SyncKind{SyncEmployees, SyncTags, SyncContacts, SyncGroups, SyncFans}

// Valid reports whether k is a known kind.
func (k SyncKind) Valid() bool {
	for _, x := range SyncKinds {
		if k == x {
			return true
		}
	}
	return false
}

// Label is the kind's name for admins.
func (k SyncKind) Label() string {
	switch k {
	case SyncEmployees:
		return "员工与部门"
	case SyncTags:
		return "企业客户标签"
	case SyncContacts:
		return "客户"
	case SyncGroups:
		return "客户群"
	case SyncFans:
		return "公众号粉丝"
	}
	return string(k)
}

// Sync job states.
const (
	SyncRunning = "running"
	SyncFailed  = "failed" // stopped; the next run resumes from its checkpoint
	SyncDone    = "done"
)

// SyncTarget is what one sync talks to: the corp (and Official Account) and
// the client built from the saved settings.
type SyncTarget struct {
	CorpID  string
	OAAppID string
	Client  *wecom.Client
}

// SyncJob is one run (with its resumes) of one kind for one corp.
type SyncJob struct {
	ID         int64           `db:"id"`
	CorpID     string          `db:"corp_id"`
	Kind       SyncKind        `db:"kind"`
	State      string          `db:"state"`
	Planned    int64           `db:"planned"`
	Finished   int64           `db:"finished"`
	Received   int64           `db:"received"`
	Changed    int64           `db:"changed"`
	Retries    int64           `db:"retries"`
	Attempts   int             `db:"attempts"`
	Checkpoint json.RawMessage `db:"checkpoint"`
	ReportJSON []byte          `db:"report"`
	Error      string          `db:"error"`
	StartedBy  string          `db:"started_by"`
	StartedAt  time.Time       `db:"started_at"`
	UpdatedAt  time.Time       `db:"updated_at"`
	FinishedAt *time.Time      `db:"finished_at"`
}

// Percent is the job's progress, 0–100; -1 while the total is unknown.
func (j SyncJob) Percent() int {
	switch {
	case j.State == SyncDone:
		return 100
	case j.Planned <= 0:
		return -1
	}
	return int(min(99, j.Finished*100/j.Planned))
}

// Report returns the job's reconciliation report (ok false before the end).
func (j SyncJob) Report() (SyncReport, bool) {
	var r SyncReport
	if len(j.ReportJSON) == 0 || json.Unmarshal(j.ReportJSON, &r) != nil {
		return SyncReport{}, false
	}
	return r, true
}

// SyncService mirrors WeCom and the Official Account into the database and
// links every customer and follower through the identity engine.
//
// Invariants: one job of a kind runs at a time per corp across instances (a
// session advisory lock held by the runner, plus one open job row per kind);
// every page is written in one transaction with its checkpoint, so a crash
// resumes after the last written page; every write is an idempotent upsert
// and every moment has a dedup key, so a second run changes nothing.
type SyncService struct {
	db  *sqlx.DB
	box *pii.Box
	ids *IdentityService
	log *slog.Logger
	now func() time.Time

	// Concurrency bounds the parallel API streams of one job (default 4).
	Concurrency int
	// PageSize is the batch/get_by_user limit, 1–100 (default 100).
	PageSize int
	// Backoff is the wait before retry n (1-based) of a call that failed
	// with -1, 45009, 45033 or a transport error.
	Backoff func(n int) time.Duration
	// MaxRetries bounds those retries per call (default 6); then the job
	// fails and keeps its checkpoint.
	MaxRetries int
	// Base is the context background jobs (Start) run under; cancelled at
	// shutdown, it interrupts them (they resume at the next run).
	Base context.Context
	// ResumeWithin is how old an unfinished job may be and still be resumed
	// (default 24 h); an older one is closed and a new job starts.
	ResumeWithin time.Duration
}

// NewSyncService returns the service with its defaults.
func NewSyncService(db *sqlx.DB, box *pii.Box, ids *IdentityService, log *slog.Logger) *SyncService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SyncService{db: db, box: box, ids: ids, log: log, now: time.Now, Concurrency: 4, PageSize: 100,
		Backoff: defaultSyncBackoff, MaxRetries: 6, Base: context.Background(), ResumeWithin: 24 * time.Hour}
}

// defaultSyncBackoff doubles from 500 ms to 30 s with ±25 % jitter, so that
// several streams hitting 45009 together do not come back together.
func defaultSyncBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 6)
	d = min(d, 30*time.Second)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// syncRun is one running job: its target, its lock and its counters.
type syncRun struct {
	s       *SyncService
	t       SyncTarget
	job     SyncJob
	conn    *sql.Conn // holds the session advisory lock
	retries atomic.Int64
}

// Run runs a sync of kind to its end (resuming an unfinished job) and
// returns the finished job. Errors: EINVALID (unknown kind, no target),
// ECONFLICT (one runs already); other errors leave the job failed with its
// checkpoint for the next run.
func (s *SyncService) Run(ctx context.Context, t SyncTarget, kind SyncKind, actor string) (SyncJob, error) {
	r, err := s.begin(ctx, t, kind, actor)
	if err != nil {
		return SyncJob{}, err
	}
	defer r.release()
	return r.execute(ctx)
}

// Start begins a sync for an admin (managers may look, not run) in the
// background under s.Base and returns its job at once. Errors: EFORBIDDEN,
// and Run's, before the job starts.
func (s *SyncService) Start(ctx context.Context, t SyncTarget, kind SyncKind, v Operator) (SyncJob, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return SyncJob{}, err
	}
	r, err := s.begin(ctx, t, kind, v.Actor())
	if err != nil {
		return SyncJob{}, err
	}
	go func() {
		defer r.release()
		if _, err := r.execute(s.Base); err != nil {
			s.log.Warn("sync: job stopped", "job", r.job.ID, "kind", kind, "err", err)
		}
	}()
	return r.job, nil
}

// begin takes the kind's lock and opens (or resumes) its job.
func (s *SyncService) begin(ctx context.Context, t SyncTarget, kind SyncKind, actor string) (*syncRun, error) {
	if !kind.Valid() {
		return nil, Invalid("未知的同步类型", map[string]string{"kind": "未知的同步类型"})
	}
	if t.Client == nil || t.CorpID == "" {
		return nil, Errorf(EUNAVAILABLE, "尚未连接企业微信，请先在设置页完成配置")
	}
	if kind == SyncFans && t.OAAppID == "" {
		return nil, Errorf(EUNAVAILABLE, "尚未配置公众号，无法同步粉丝")
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync: connection: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`,
		"sync:"+t.CorpID+":"+string(kind)).Scan(&ok); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sync: lock: %w", err)
	}
	if !ok {
		conn.Close()
		s.awaitOpenJob(ctx, t.CorpID, kind)
		return nil, Errorf(ECONFLICT, "%s同步正在进行中，请等待它结束", kind.Label())
	}
	r := &syncRun{s: s, t: t, conn: conn}
	if r.job, err = s.openJob(ctx, t.CorpID, kind, actor); err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

// awaitOpenJob waits (up to 2 s) until the job of the runner holding the
// kind's lock is visible. A start refused because another instance started
// the same sync a moment earlier must be able to show that job: the lock is
// taken before the job row commits, so without this wait the page the
// refused admin is sent to could still say "never synced" and offer to
// start again.
func (s *SyncService) awaitOpenJob(ctx context.Context, corp string, kind SyncKind) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		var open bool
		err := s.db.GetContext(ctx, &open, `SELECT EXISTS (SELECT 1 FROM sync_jobs
WHERE corp_id = $1 AND kind = $2 AND state = 'running')`, corp, kind)
		if err != nil || open {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// release drops the advisory lock with the connection.
func (r *syncRun) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = r.conn.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`)
	r.conn.Close()
}

const syncJobColumns = `id, corp_id, kind, state, planned, finished, received, changed, retries, attempts, checkpoint,
report, error, started_by, started_at, updated_at, finished_at`

// openJob resumes the kind's unfinished job when it is recent enough,
// otherwise closes it and starts a new one. The caller holds the lock.
func (s *SyncService) openJob(ctx context.Context, corp string, kind SyncKind, actor string) (SyncJob, error) {
	var j SyncJob
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &j, `UPDATE sync_jobs SET state = 'running', attempts = attempts + 1, error = '',
updated_at = now() WHERE corp_id = $1 AND kind = $2 AND state <> 'done' AND updated_at > now() - $3 * interval '1 second'
RETURNING `+syncJobColumns, corp, kind, s.ResumeWithin.Seconds())
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sync_jobs SET state = 'done', error = 'abandoned', finished_at = now()
WHERE corp_id = $1 AND kind = $2 AND state <> 'done'`, corp, kind); err != nil {
			return err
		}
		return tx.GetContext(ctx, &j, `INSERT INTO sync_jobs (corp_id, kind, started_by) VALUES ($1, $2, $3)
RETURNING `+syncJobColumns, corp, kind, actor)
	})
	if err != nil {
		return SyncJob{}, fmt.Errorf("sync: open job: %w", err)
	}
	return j, nil
}

// execute runs the kind's steps, then reconciles and closes the job.
func (r *syncRun) execute(ctx context.Context) (SyncJob, error) {
	steps := map[SyncKind]func(context.Context) error{
		SyncEmployees: r.syncEmployees, SyncTags: r.syncTags, SyncContacts: r.syncContacts,
		SyncGroups: r.syncGroups, SyncFans: r.syncFans,
	}
	err := steps[r.job.Kind](ctx)
	if err == nil {
		var rep SyncReport
		if rep, err = r.s.reconcile(ctx, r.job); err == nil {
			return r.finish(rep)
		}
	}
	r.fail(err)
	return r.s.FindJob(context.Background(), r.job.ID)
}

// finish marks the job done with its report.
func (r *syncRun) finish(rep SyncReport) (SyncJob, error) {
	body, _ := json.Marshal(rep)
	var j SyncJob
	err := r.s.db.GetContext(context.Background(), &j, `UPDATE sync_jobs SET state = 'done', report = $2,
retries = retries + $3, finished = greatest(finished, planned), finished_at = now(), updated_at = now()
WHERE id = $1 RETURNING `+syncJobColumns, r.job.ID, body, r.retries.Swap(0))
	if err != nil {
		return SyncJob{}, fmt.Errorf("sync: finish job: %w", err)
	}
	return j, nil
}

// fail keeps the job open with its checkpoint and a safe description of why
// it stopped (WeChat errcodes and our own codes only; no payloads).
func (r *syncRun) fail(cause error) {
	msg := "内部错误"
	var ae *wecom.APIError
	switch {
	case errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded):
		msg = "已中断"
	case errors.As(cause, &ae):
		msg = fmt.Sprintf("企业微信返回 %d（%s）", ae.Code, ae.Op)
		if adv := ae.Advice(); adv != "" {
			msg += "：" + adv
		}
	case ErrorCode(cause) != EINTERNAL:
		msg = ErrorMessage(cause)
	}
	r.s.log.Warn("sync: job failed", "job", r.job.ID, "kind", r.job.Kind, "err", cause)
	_, err := r.s.db.ExecContext(context.Background(), `UPDATE sync_jobs SET state = 'failed', error = $2,
retries = retries + $3, updated_at = now() WHERE id = $1`, r.job.ID, msg, r.retries.Swap(0))
	if err != nil {
		r.s.log.Error("sync: mark job failed", "job", r.job.ID, "err", err)
	}
}

// progress adds to the job's counters (outside page transactions).
func (r *syncRun) progress(ctx context.Context, q sqlx.ExecerContext, planned, finished, received, changed int64) error {
	_, err := q.ExecContext(ctx, `UPDATE sync_jobs SET planned = greatest(planned, $2), finished = finished + $3,
received = received + $4, changed = changed + $5, retries = retries + $6, updated_at = now() WHERE id = $1`,
		r.job.ID, planned, finished, received, changed, r.retries.Swap(0))
	if err != nil {
		return fmt.Errorf("sync: progress: %w", err)
	}
	return nil
}

// call runs one API call, retrying with backoff when WeCom is busy (-1),
// rate-limited (45009, 45033) or unreachable, or when the token was still
// refused after the adapter's own refresh and retry (42001, 40014): another
// refresh a moment later cures that (a token rotated by another caller of
// the same secret), and MaxRetries bounds it when it does not.
func (r *syncRun) call(ctx context.Context, fn func() error) error {
	for n := 1; ; n++ {
		err := fn()
		if err == nil || ctx.Err() != nil || !transient(err) || n > r.s.MaxRetries {
			return err
		}
		r.retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.s.Backoff(n)):
		}
	}
}

// transient reports an error worth retrying after a pause.
func transient(err error) bool {
	if wecom.IsAPIError(err) {
		return wecom.IsAPIError(err, -1, 45009, 45033, 42001, 40014)
	}
	return !errors.Is(err, context.Canceled)
}

// FindJob returns a job. Errors: ENOTFOUND.
func (s *SyncService) FindJob(ctx context.Context, id int64) (SyncJob, error) {
	var j SyncJob
	err := s.db.GetContext(ctx, &j, `SELECT `+syncJobColumns+` FROM sync_jobs WHERE id = $1`, id)
	if err != nil {
		return SyncJob{}, notFound(err, "同步任务")
	}
	return j, nil
}

// LatestJobs returns the newest job of each kind for the corp (kinds never
// run are absent).
func (s *SyncService) LatestJobs(ctx context.Context, corp string) (map[SyncKind]SyncJob, error) {
	var jobs []SyncJob
	err := s.db.SelectContext(ctx, &jobs, `SELECT DISTINCT ON (kind) `+syncJobColumns+`
FROM sync_jobs WHERE corp_id = $1 ORDER BY kind, id DESC`, corp)
	if err != nil {
		return nil, fmt.Errorf("sync: latest jobs: %w", err)
	}
	out := make(map[SyncKind]SyncJob, len(jobs))
	for _, j := range jobs {
		out[j.Kind] = j
	}
	return out, nil
}

// withPageTx runs a page's transaction, again when PostgreSQL reports a
// deadlock or serialisation failure (the page is idempotent).
func (s *SyncService) withPageTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = withTx(ctx, s.db, fn); !retryable(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// ConnectionTargets gives sync targets from the saved connection
// (WeChatProvider), for the admin pages and the CLI.
type ConnectionTargets struct{ Conn ConnectionSource }

// SyncTarget returns the corp, the Official Account and the client of the
// saved settings. Errors: EUNAVAILABLE when WeCom is not connected.
func (c ConnectionTargets) SyncTarget(ctx context.Context) (SyncTarget, error) {
	cn, err := c.Conn.Current(ctx)
	if err != nil {
		return SyncTarget{}, err
	}
	if cn.Client == nil || cn.Settings.CorpID == "" {
		return SyncTarget{}, Errorf(EUNAVAILABLE, "尚未连接企业微信，请先在设置页完成配置")
	}
	return SyncTarget{CorpID: cn.Settings.CorpID, OAAppID: cn.Settings.OAAppID, Client: cn.Client}, nil
}
