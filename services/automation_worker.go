package services

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// AutomationWorker runs queued rule executions: Workers goroutines claim due
// rows with FOR UPDATE SKIP LOCKED and a lease (like InboxWorker), so any
// number of instances may each run one.
type AutomationWorker struct {
	s   *AutomationService
	log *slog.Logger

	Workers int           // goroutines; default 2
	Batch   int           // executions per claim; default 8
	Poll    time.Duration // idle wait between claims; default 1 s
	Lease   time.Duration // how long a claimed execution is ours; default 2 min
	Timeout time.Duration // one execution; default 60 s (less than Lease)
}

// NewAutomationWorker returns a worker with the defaults.
func NewAutomationWorker(s *AutomationService, log *slog.Logger) *AutomationWorker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AutomationWorker{s: s, log: log, Workers: 2, Batch: 8, Poll: time.Second, Lease: 2 * time.Minute, Timeout: 60 * time.Second}
}

// Run processes until ctx ends, letting the executions in hand finish.
func (w *AutomationWorker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range max(w.Workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if w.RunOnce(ctx) > 0 {
					continue
				}
				select {
				case <-ctx.Done():
				case <-time.After(w.Poll):
				}
			}
		})
	}
	wg.Wait()
}

// RunOnce claims one batch, runs it and returns its size.
func (w *AutomationWorker) RunOnce(ctx context.Context) int {
	jobs, err := w.s.claim(ctx, max(w.Batch, 1), w.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("automation: claim failed", "err", err)
		}
		return 0
	}
	for _, j := range jobs {
		w.handle(ctx, j)
	}
	return len(jobs)
}

// handle runs one execution; it outlives ctx (bounded by Timeout) so that a
// shutdown does not abandon an action half way.
func (w *AutomationWorker) handle(ctx context.Context, j automationJob) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.Timeout)
	defer cancel()
	err := w.s.execute(pctx, j)
	if err == nil {
		return
	}
	state, ferr := w.s.fail(pctx, j, err)
	if ferr != nil {
		w.log.Warn("automation: recording a failure failed", "err", ferr, "rule", j.RuleID, "moment", j.MomentID)
		return
	}
	w.log.Warn("automation: action failed", "err", err, "rule", j.RuleID, "moment", j.MomentID, "attempt", j.Attempts, "state", state)
}

// automationJob is a claimed execution.
type automationJob struct {
	RuleID   int64 `db:"rule_id"`
	MomentID int64 `db:"moment_id"`
	Attempts int   `db:"attempts"`
	// WasSending: an earlier attempt began message/send and never recorded
	// its answer (it crashed or lost its lease).
	WasSending bool `db:"was_sending"`
}

func (s *AutomationService) claim(ctx context.Context, n int, lease time.Duration) ([]automationJob, error) {
	var jobs []automationJob
	err := s.db.SelectContext(ctx, &jobs, `UPDATE automation_executions e
SET attempts = e.attempts + 1, locked_until = now() + make_interval(secs => $2)
FROM (SELECT rule_id, moment_id FROM automation_executions
      WHERE state = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) c
WHERE e.rule_id = c.rule_id AND e.moment_id = c.moment_id
RETURNING e.rule_id, e.moment_id, e.attempts, e.sending_since IS NOT NULL AS was_sending`, n, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("automation: claim: %w", err)
	}
	return jobs, nil
}

// automationTarget is what an execution acts on: the rule and the moment
// with the (live) marketing user behind it.
type automationTarget struct {
	Rule       AutomationRule
	MomentID   int64      `db:"moment_id"`
	IdentityID int64      `db:"identity_id"`
	Kind       MomentKind `db:"kind"`
	Title      string     `db:"title"`
	Employee   string     `db:"employee_userid"`
	OccurredAt time.Time  `db:"occurred_at"`
	UserID     int64      `db:"user_id"`
	CorpID     string     `db:"corp_id"`
}

// actionResult is what an action did; Skipped ones have nothing to do and
// say why in Outcome. Done ones are shown in the timeline with Title.
type actionResult struct {
	Skipped  bool
	Outcome  string
	Title    string
	Employee string
	Detail   map[string]any
}

// txAction is the database side of an action, run in the transaction that
// finishes the execution: it commits with the execution's final state or
// not at all, so it happens exactly once.
type txAction func(ctx context.Context, tx *sqlx.Tx) (actionResult, error)

func skip(reason string) txAction {
	return func(context.Context, *sqlx.Tx) (actionResult, error) {
		return actionResult{Skipped: true, Outcome: reason}, nil
	}
}

// execute performs one claimed execution. A returned error is retried.
func (s *AutomationService) execute(ctx context.Context, j automationJob) error {
	t, err := s.target(ctx, j)
	if errors.Is(err, sql.ErrNoRows) {
		return s.finish(ctx, j, t, skip("动态或规则已删除"))
	}
	if err != nil {
		return err
	}
	if !t.Rule.Enabled {
		return s.finish(ctx, j, t, skip("规则已停用"))
	}
	var act txAction
	switch t.Rule.Action {
	case ActionTag:
		act, err = s.tagAction(ctx, t)
	case ActionNotify:
		act, err = s.notifyAction(ctx, j, t)
	case ActionAssign:
		act = s.assignAction(t)
	case ActionGrowth:
		act = s.growthAction(t)
	default:
		act = skip("未知的动作")
	}
	if err != nil {
		return err
	}
	return s.finish(ctx, j, t, act)
}

func (s *AutomationService) target(ctx context.Context, j automationJob) (automationTarget, error) {
	var t automationTarget
	err := s.db.GetContext(ctx, &t.Rule, `SELECT id, name, enabled, active_since, moment_kind, form_id, channel, action,
    tag_id, tag_name, employees, max_per_employee, points, created_by, created_at FROM automation_rules WHERE id = $1`, j.RuleID)
	if err != nil {
		return t, err
	}
	err = s.db.GetContext(ctx, &t, `SELECT m.id AS moment_id, m.identity_id, m.kind, m.title, m.employee_userid, m.occurred_at,
    identity_resolve(i.user_id) AS user_id, coalesce((SELECT corp_id FROM wecom_settings LIMIT 1), '') AS corp_id
FROM moments m JOIN identities i ON i.id = m.identity_id WHERE m.id = $1`, j.MomentID)
	return t, err
}

// errFinished: another worker finished the execution first.
var errFinished = errors.New("automation: execution already finished")

// finish runs act and records the outcome (and, when done, the timeline
// moment) in one transaction, with the execution row locked and still
// pending: a second worker holding a stale lease finds it finished and
// changes nothing.
func (s *AutomationService) finish(ctx context.Context, j automationJob, t automationTarget, act txAction) error {
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var one int
		err := tx.GetContext(ctx, &one, `SELECT 1 FROM automation_executions
WHERE rule_id = $1 AND moment_id = $2 AND state = 'pending' FOR UPDATE`, j.RuleID, j.MomentID)
		if errors.Is(err, sql.ErrNoRows) {
			return errFinished
		}
		if err != nil {
			return fmt.Errorf("automation: lock: %w", err)
		}
		res, err := act(ctx, tx)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, j, t, res)
	})
	if errors.Is(err, errFinished) {
		return nil
	}
	return err
}

func (s *AutomationService) record(ctx context.Context, tx *sqlx.Tx, j automationJob, t automationTarget, res actionResult) error {
	state := "done"
	if res.Skipped {
		state = "skipped"
	}
	_, err := tx.ExecContext(ctx, `UPDATE automation_executions SET state = $3, outcome = $4, errcode = 0, finished_at = $5,
    locked_until = NULL, sending_since = NULL WHERE rule_id = $1 AND moment_id = $2`, j.RuleID, j.MomentID, state,
		truncate(res.Outcome, 500), s.now())
	if err != nil || res.Skipped {
		return wrapErr("automation: record", err)
	}
	detail := map[string]any{"rule_id": j.RuleID, "rule": t.Rule.Name, "moment_id": j.MomentID, "action": t.Rule.Action}
	for k, v := range res.Detail {
		detail[k] = v
	}
	raw, _ := json.Marshal(detail)
	// kind automation_action: the enqueue trigger never matches it, so an
	// action cannot fire rules again
	_, err = tx.ExecContext(ctx, `INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, detail, dedup_key)
VALUES ($1, $2, $3, 'automation', $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING`, t.IdentityID, KindAutomationAction,
		s.now(), res.Employee, truncate(res.Title, 500), raw, "automation:"+strconv.FormatInt(j.RuleID, 10)+":"+strconv.FormatInt(j.MomentID, 10))
	return wrapErr("automation: moment", err)
}

// fail records a failed attempt: retried after Backoff, or failed for good
// after MaxAttempts, with WeCom's errcode when it answered one.
func (s *AutomationService) fail(ctx context.Context, j automationJob, cause error) (string, error) {
	msg, code := failureMessage(cause)
	state := "pending"
	if j.Attempts >= s.MaxAttempts {
		state = "failed"
	}
	_, err := s.db.ExecContext(ctx, `UPDATE automation_executions SET state = $3, outcome = $4, errcode = $5, locked_until = NULL,
    next_attempt_at = now() + make_interval(secs => $6), finished_at = CASE WHEN $3 = 'failed' THEN now() END
WHERE rule_id = $1 AND moment_id = $2 AND state = 'pending'`, j.RuleID, j.MomentID, state, truncate(msg, 500), code,
		s.Backoff(max(j.Attempts, 1)).Seconds())
	if err != nil {
		return "", fmt.Errorf("automation: fail: %w", err)
	}
	return state, nil
}

// failureMessage is the reason shown on the rule page (never a token: the
// adapter's errors carry the endpoint and errcode only).
func failureMessage(err error) (string, int) {
	var api *wecom.APIError
	if errors.As(err, &api) {
		msg := fmt.Sprintf("企业微信返回错误 %d（%s）", api.Code, api.Op)
		if a := api.Advice(); a != "" {
			msg += "：" + a
		}
		return msg, api.Code
	}
	if c := ErrorCode(err); c != EINTERNAL {
		return ErrorMessage(err), 0
	}
	return "系统错误，稍后重试", 0
}
