package services

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// Send states.
const (
	SendDraft   = "draft"
	SendSending = "sending"
	SendDone    = "done"
)

// templateBatch is how many recipients a runner reads at a time.
const templateBatch = 200

// Start fixes the audience (the segment's users' openids of this account)
// and hands the send to the runners, audited. It returns the number of
// recipients. Admins only. Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (already
// started), EINVALID (no fan of the account in the segment).
func (s *TemplateMessageService) Start(ctx context.Context, id int64, by Actor) (int, error) {
	if err := by.requireAdmin(); err != nil {
		return 0, err
	}
	snd, err := s.Send(ctx, id)
	if err != nil {
		return 0, err
	}
	if snd.Status != SendDraft {
		return 0, Errorf(ECONFLICT, "该群发已开始")
	}
	users, err := s.segments.UserIDs(ctx, snd.SegmentID)
	if err != nil {
		return 0, err
	}
	var n int64
	err = withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		n, err = s.materialize(ctx, tx, snd, users)
		if err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: "template_send_started",
			TargetKind: "template_send", TargetID: fmt.Sprint(id), Detail: map[string]any{"recipients": n}})
	})
	if err != nil {
		return 0, err
	}
	s.Wake()
	return int(n), nil
}

func (s *TemplateMessageService) materialize(ctx context.Context, tx *sqlx.Tx, snd TemplateSend, users []int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE template_sends SET status = 'sending', started_at = now() WHERE id = $1 AND status = 'draft'`, snd.ID)
	if err != nil {
		return 0, fmt.Errorf("templates: start: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return 0, Errorf(ECONFLICT, "该群发已开始")
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO template_recipients (send_id, user_id, openid)
SELECT $1, i.user_id, i.key FROM identities i
WHERE i.kind = 'oa_openid' AND i.scope = $2 AND i.user_id = ANY($3) ORDER BY i.id
ON CONFLICT (send_id, openid) DO NOTHING`, snd.ID, snd.AppID, pq.Array(users))
	if err != nil {
		return 0, fmt.Errorf("templates: recipients: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, Invalid("该人群中没有本公众号的粉丝", map[string]string{"segment": "人群中没有公众号粉丝"})
	}
	_, err = tx.ExecContext(ctx, `UPDATE template_sends SET recipients = $2 WHERE id = $1`, snd.ID, n)
	return n, err
}

// Wake makes RunPending look for work now.
func (s *TemplateMessageService) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunPending runs the sends that are sending and not held by a live runner
// (just started, or left by a crashed instance), until ctx ends.
func (s *TemplateMessageService) RunPending(ctx context.Context) {
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		s.runDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *TemplateMessageService) runDue(ctx context.Context) {
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, `SELECT id FROM template_sends WHERE status = 'sending'
AND (lease_until IS NULL OR lease_until < now()) ORDER BY id`); err != nil {
		return // the database is away; the next tick retries
	}
	for _, id := range ids {
		if err := s.Run(ctx, id); err != nil && ctx.Err() == nil {
			// Back off a little; the rows stay pending and are retried.
			_, _ = s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE template_sends SET lease_until = now() + interval '5 seconds'
WHERE id = $1 AND lease_owner = $2`, id, s.owner)
		}
	}
}

var errLeaseLost = errors.New("templates: lease lost")

// Run sends the pending recipients of send id while holding its lease;
// it returns when all are sent or failed (the send is then done), when the
// lease is held elsewhere, or on a transient error (rows stay pending).
func (s *TemplateMessageService) Run(ctx context.Context, id int64) error {
	if ok, err := s.lease(ctx, id); err != nil || !ok {
		return err
	}
	snd, err := s.Send(ctx, id)
	if err != nil {
		return err
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	var after int64
	for {
		fans, err := s.pending(ctx, id, after)
		if err != nil || len(fans) == 0 {
			if err != nil {
				return err
			}
			return s.finish(ctx, id)
		}
		if err := s.sendBatch(ctx, c, snd, fans); err != nil {
			return err
		}
		if ok, err := s.lease(ctx, id); err != nil || !ok {
			return errors.Join(err, errLeaseLost)
		}
		after = fans[len(fans)-1].ID
	}
}

// lease takes or renews the send's lease for this instance.
func (s *TemplateMessageService) lease(ctx context.Context, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE template_sends SET lease_until = now() + make_interval(secs => $2), lease_owner = $3
WHERE id = $1 AND status = 'sending' AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $3)`,
		id, s.Lease.Seconds(), s.owner)
	if err != nil {
		return false, fmt.Errorf("templates: lease: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *TemplateMessageService) pending(ctx context.Context, id, after int64) ([]TemplateFan, error) {
	var out []TemplateFan
	err := s.db.SelectContext(ctx, &out, `SELECT r.id, r.user_id, r.openid, `+fmt.Sprintf(nicknameSQL, "r.user_id")+` AS nickname
FROM template_recipients r WHERE r.send_id = $1 AND r.status = 'pending' AND r.id > $2 ORDER BY r.id LIMIT $3`, id, after, templateBatch)
	if err != nil {
		return nil, fmt.Errorf("templates: pending: %w", err)
	}
	return out, nil
}

// sendBatch sends to fans with s.Workers concurrent requests.
func (s *TemplateMessageService) sendBatch(ctx context.Context, c TemplateClient, snd TemplateSend, fans []TemplateFan) error {
	jobs := make(chan TemplateFan)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	now := time.Now()
	for range max(s.Workers, 1) {
		wg.Go(func() {
			for f := range jobs {
				if err := s.sendOne(ctx, c, snd, f, now); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, f := range fans {
		if ctx.Err() != nil {
			break
		}
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	return cmpOr(first, ctx.Err())
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// sendOne sends one message and records the outcome. The client_msg_id is
// the recipient row, so a resend after a lost outcome is deduplicated by
// WeChat. Transport errors and "system busy" leave the row pending.
func (s *TemplateMessageService) sendOne(ctx context.Context, c TemplateClient, snd TemplateSend, f TemplateFan, now time.Time) error {
	msgid, err := c.OASendTemplateOnce(ctx, s.render(snd, f, now), fmt.Sprintf("ma-%d-%d", snd.ID, f.ID))
	var ae *wecom.APIError
	switch {
	case err == nil:
		_, err = s.db.ExecContext(ctx, `UPDATE template_recipients SET status = 'sent', msgid = $2, errcode = 0, attempted_at = now(),
    delivery = coalesce((SELECT status FROM template_job_results WHERE msgid = $2), '') WHERE id = $1`, f.ID, msgid)
	case errors.As(err, &ae) && ae.Code != -1:
		_, err = s.db.ExecContext(ctx, `UPDATE template_recipients SET status = 'failed', errcode = $2, attempted_at = now()
WHERE id = $1`, f.ID, ae.Code)
	}
	if err != nil {
		return fmt.Errorf("templates: send to recipient %d: %w", f.ID, err)
	}
	return nil
}

// finish marks the send done once nothing is pending.
func (s *TemplateMessageService) finish(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE template_sends SET status = 'done', finished_at = now(), lease_until = NULL
WHERE id = $1 AND status = 'sending' AND NOT EXISTS (SELECT 1 FROM template_recipients WHERE send_id = $1 AND status = 'pending')`, id)
	if err != nil {
		return fmt.Errorf("templates: finish: %w", err)
	}
	return nil
}

// A recipient's delivery is its own column, set by the TEMPLATESENDJOBFINISH
// handler or when the sender records the msgid, else the result by msgid:
// when the two commit at the same moment neither sees the other's row, and
// the join still finds the result.
const (
	deliverySQL = `coalesce(nullif(r.delivery, ''), j.status, '')`
	resultJoin  = `LEFT JOIN template_job_results j ON j.msgid = r.msgid`
)

// TemplateSummary counts a send's recipients by outcome.
type TemplateSummary struct {
	Total        int `db:"total"`
	Pending      int `db:"pending"`
	Sent         int `db:"sent"`
	Failed       int `db:"failed"`
	Delivered    int `db:"delivered"`     // TEMPLATESENDJOBFINISH success
	UserBlock    int `db:"user_block"`    // failed:user block
	SystemFailed int `db:"system_failed"` // failed: system failed
	Errcodes     []ErrcodeCount
}

// ErrcodeCount is how many recipients failed with one errcode.
type ErrcodeCount struct {
	Code  int `db:"errcode"`
	Count int `db:"n"`
	Text  string
}

// Summary counts the send's outcomes and its refusals by errcode.
func (s *TemplateMessageService) Summary(ctx context.Context, id int64) (TemplateSummary, error) {
	var out TemplateSummary
	err := s.db.GetContext(ctx, &out, `SELECT count(*) AS total, count(*) FILTER (WHERE status = 'pending') AS pending,
    count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE delivery = 'success') AS delivered, count(*) FILTER (WHERE delivery = 'failed:user block') AS user_block,
    count(*) FILTER (WHERE delivery LIKE 'failed:%' AND delivery <> 'failed:user block') AS system_failed
FROM (SELECT r.status, `+deliverySQL+` AS delivery FROM template_recipients r `+resultJoin+` WHERE r.send_id = $1) x`, id)
	if err != nil {
		return out, fmt.Errorf("templates: summary: %w", err)
	}
	err = s.db.SelectContext(ctx, &out.Errcodes, `SELECT errcode, count(*) AS n FROM template_recipients
WHERE send_id = $1 AND status = 'failed' GROUP BY errcode ORDER BY n DESC, errcode`, id)
	for i := range out.Errcodes {
		out.Errcodes[i].Text = ErrcodeText(out.Errcodes[i].Code)
	}
	return out, err
}

// TemplateRecipient is one recipient's outcome, for the page.
type TemplateRecipient struct {
	OpenID   string `db:"openid"`
	Status   string `db:"status"`
	MsgID    *int64 `db:"msgid"`
	Errcode  int    `db:"errcode"`
	Delivery string `db:"delivery"`
}

// Recipients lists up to limit recipients, failures first.
func (s *TemplateMessageService) Recipients(ctx context.Context, id int64, limit int) ([]TemplateRecipient, error) {
	var out []TemplateRecipient
	err := s.db.SelectContext(ctx, &out, `SELECT r.openid, r.status, r.msgid, r.errcode, `+deliverySQL+` AS delivery
FROM template_recipients r `+resultJoin+` WHERE r.send_id = $1 ORDER BY (r.status = 'failed') DESC, r.id LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("templates: recipients: %w", err)
	}
	return out, nil
}
