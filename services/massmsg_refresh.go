package services

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// massSender is a created task to follow.
type massSender struct {
	UserID string `db:"userid"`
	Batch  int    `db:"batch"`
	MsgID  string `db:"msgid"`
}

// RefreshMassMessage reads the employees' tasks and the customers' results
// from WeCom, stores them and records mass_message_received on every
// customer who got it. Admins only (the periodic refresh runs as system).
// Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (not sent yet), EUNAVAILABLE.
func (s *MassMessageService) RefreshMassMessage(ctx context.Context, v Operator, id int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	m, err := s.find(ctx, id)
	if err != nil {
		return err
	}
	if m.Status != "sent" {
		return Errorf(ECONFLICT, "群发尚未发送")
	}
	client, err := s.wechat.WeChat(ctx)
	if err != nil {
		return Errorf(EUNAVAILABLE, "企业微信未连接：%s", ErrorMessage(err))
	}
	if err := s.refresh(ctx, client, m); err != nil {
		code, msg := apiFailure(err)
		if code == -1 && ErrorCode(err) == EINTERNAL {
			return fmt.Errorf("massmsg: refresh: %w", err)
		}
		return Errorf(EUNAVAILABLE, "刷新失败：%s", msg)
	}
	return nil
}

func (s *MassMessageService) refresh(ctx context.Context, client *wecom.Client, m MassMessage) error {
	var senders []massSender
	if err := s.db.SelectContext(ctx, &senders, `SELECT userid, batch, msgid FROM mass_message_senders
WHERE message_id = $1 AND msgid <> '' ORDER BY userid, batch`, m.ID); err != nil {
		return fmt.Errorf("massmsg: senders: %w", err)
	}
	if err := s.checkListed(ctx, client, m, senders); err != nil {
		return err
	}
	for _, sd := range senders {
		if err := s.refreshSender(ctx, client, m, sd); err != nil {
			return err
		}
	}
	_, err := s.db.ExecContext(ctx, `UPDATE mass_messages SET refreshed_at = $2 WHERE id = $1`, m.ID, s.now())
	return err
}

// checkListed asks get_groupmsg_list_v2 for the corp's mass messages since
// sending: a task missing there was withdrawn in WeCom (its reads would
// fail), which the sender row then says. Skipped past WeCom's one-month
// query range.
func (s *MassMessageService) checkListed(ctx context.Context, client *wecom.Client, m MassMessage, senders []massSender) error {
	if m.SentAt == nil || s.now().Sub(*m.SentAt) > 30*24*time.Hour || len(senders) == 0 {
		return nil
	}
	list, err := client.GroupMsgList(ctx, m.SentAt.Add(-time.Hour).Unix(), s.now().Add(time.Minute).Unix())
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, g := range list {
		known[g.MsgID] = true
	}
	for _, sd := range senders {
		if !known[sd.MsgID] {
			if _, err := s.db.ExecContext(ctx, `UPDATE mass_message_senders SET errmsg = '企业微信群发记录中找不到该任务（可能已被停止）'
WHERE message_id = $1 AND userid = $2 AND batch = $3`, m.ID, sd.UserID, sd.Batch); err != nil {
				return fmt.Errorf("massmsg: unlisted: %w", err)
			}
		}
	}
	return nil
}

// refreshSender stores one task's status and, once sent, its customers'.
func (s *MassMessageService) refreshSender(ctx context.Context, client *wecom.Client, m MassMessage, sd massSender) error {
	tasks, err := client.GroupMsgTasks(ctx, sd.MsgID)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if t.UserID != sd.UserID {
			continue
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE mass_message_senders SET status = $4, send_time = $5
WHERE message_id = $1 AND userid = $2 AND batch = $3`, m.ID, sd.UserID, sd.Batch, t.Status, unixOrNil(t.SendTime)); err != nil {
			return fmt.Errorf("massmsg: task status: %w", err)
		}
		if t.Status != 1 {
			return nil
		}
	}
	results, err := client.GroupMsgSendResults(ctx, sd.MsgID, sd.UserID)
	if err != nil {
		return err
	}
	return s.storeResults(ctx, m, sd, results)
}

func unixOrNil(t int64) *time.Time {
	if t <= 0 {
		return nil
	}
	at := time.Unix(t, 0)
	return &at
}

// storeResults updates the recipients' statuses and records the moments of
// those who received it (dedup key per msgid and customer: refreshing again
// records nothing twice).
func (s *MassMessageService) storeResults(ctx context.Context, m MassMessage, sd massSender, results []wecom.MassSendResult) error {
	var exts []string
	var statuses []int
	var times []*time.Time
	for _, r := range results {
		exts, statuses, times = append(exts, r.ExternalUserID), append(statuses, r.Status), append(times, unixOrNil(r.SendTime))
	}
	_, err := s.db.ExecContext(ctx, `UPDATE mass_message_recipients r SET status = x.st, send_time = x.at
FROM unnest($2::text[], $3::int[], $4::timestamptz[]) AS x(e, st, at)
WHERE r.message_id = $1 AND r.external_userid = x.e AND r.status <> 4`, m.ID, pq.Array(exts), pq.Array(statuses), pq.Array(timeStrings(times)))
	if err != nil {
		return fmt.Errorf("massmsg: results: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, detail, dedup_key)
SELECT i.id, 'mass_message_received', coalesce(r.send_time, $4), 'massmsg', r.userid, $3,
       jsonb_build_object('mass_message_id', $1::bigint, 'msgid', $5::text),
       'mass_message_received:' || $5 || ':' || r.external_userid
FROM mass_message_recipients r
JOIN identities i ON i.kind = 'wecom_external_userid' AND i.scope = r.corp_id AND i.key = r.external_userid
WHERE r.message_id = $1 AND r.userid = $2 AND r.status = 1
ON CONFLICT (dedup_key) DO NOTHING`, m.ID, sd.UserID, "企业群发："+m.Title, s.now(), sd.MsgID)
	if err != nil {
		return fmt.Errorf("massmsg: moments: %w", err)
	}
	return nil
}

// timeStrings renders times for a timestamptz[] parameter (NULL for nil).
func timeStrings(ts []*time.Time) []*string {
	out := make([]*string, len(ts))
	for i, t := range ts {
		if t != nil {
			v := t.UTC().Format(time.RFC3339)
			out[i] = &v
		}
	}
	return out
}

// RefreshOpen refreshes the messages sent in the last three days that were
// not refreshed within interval: employees confirm over hours, and nobody
// should have to press "refresh" to see it. Each message is claimed by
// bumping refreshed_at first (SKIP LOCKED), so several instances share the
// work instead of repeating it. It stops at the first error.
func (s *MassMessageService) RefreshOpen(ctx context.Context, interval time.Duration) (int, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `UPDATE mass_messages SET refreshed_at = $3 WHERE id IN (
    SELECT id FROM mass_messages WHERE status = 'sent' AND sent_at > $1 AND (refreshed_at IS NULL OR refreshed_at < $2)
    ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED) RETURNING id`, s.now().Add(-72*time.Hour), s.now().Add(-interval), s.now())
	if err != nil {
		return 0, fmt.Errorf("massmsg: open: %w", err)
	}
	system := Operator{Kind: "system", ID: "massmsg-refresh", Role: RoleAdmin}
	n := 0
	for _, id := range ids {
		if err := s.RefreshMassMessage(ctx, system, id); err != nil {
			return n, fmt.Errorf("massmsg: refresh %s: %w", strconv.FormatInt(id, 10), err)
		}
		n++
	}
	return n, nil
}

// RunRefresher refreshes open messages every interval until ctx ends.
// Errors are logged by message id only (no customer data).
func (s *MassMessageService) RunRefresher(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.RefreshOpen(ctx, interval); err != nil && ctx.Err() == nil {
			log.Warn("mass messages: periodic refresh", "err", err)
		}
	}
}
