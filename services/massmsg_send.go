package services

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// massLinkTTL is how long a mass message's form link keeps its attribution.
const massLinkTTL = 30 * 24 * time.Hour

// massBatch is one add_msg_template call to make.
type massBatch struct {
	UserID string
	Batch  int
	Exts   []string
}

// SendResult says what sending did.
type MassSendResult struct {
	Tasks    int // add_msg_template calls that created a task
	Failed   int // calls WeCom refused
	Excluded int // customers left out by the weekly limit
}

// SendMassMessage plans the draft's audience now, records it (the weekly
// ledger) and creates one WeCom task per employee (and per 10,000
// customers). Employees then confirm in WeCom. Admins only.
// Errors: EFORBIDDEN, ENOTFOUND, ECONFLICT (already sent), EINVALID (no
// customer to send to, segment deleted), EUNAVAILABLE (WeCom not connected
// or refusing every call).
func (s *MassMessageService) SendMassMessage(ctx context.Context, v Operator, id int64) (MassSendResult, error) {
	if err := v.requireRole(RoleAdmin); err != nil {
		return MassSendResult{}, err
	}
	if _, err := s.find(ctx, id); err != nil {
		return MassSendResult{}, err
	}
	client, err := s.wechat.WeChat(ctx)
	if err != nil {
		return MassSendResult{}, Errorf(EUNAVAILABLE, "企业微信未连接：%s", ErrorMessage(err))
	}
	m, batches, excluded, err := s.claim(ctx, id)
	if err != nil {
		return MassSendResult{}, wrapErr("massmsg: send", err)
	}
	res := MassSendResult{Excluded: excluded}
	var lastErr error
	for _, b := range batches {
		if err := s.sendBatch(ctx, client, m, b); err != nil {
			res.Failed++
			lastErr = err
			continue
		}
		res.Tasks++
	}
	return res, s.finish(ctx, v, m, res, lastErr)
}

// claim locks the draft, plans the audience under the corp's mass-message
// lock (two sends at once cannot both take a customer's weekly slot), and
// records recipients and batches.
func (s *MassMessageService) claim(ctx context.Context, id int64) (MassMessage, []massBatch, int, error) {
	var m MassMessage
	var batches []massBatch
	excluded := 0
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &m, `SELECT `+massColumns+` FROM mass_messages WHERE id = $1 FOR UPDATE`, id); err != nil {
			return notFound(err, "群发消息")
		}
		if m.Status != "draft" && m.Status != "failed" {
			return Errorf(ECONFLICT, "该群发已发送")
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('mass_message:' || $1))`, m.CorpID); err != nil {
			return fmt.Errorf("massmsg: lock: %w", err)
		}
		rows, err := s.audience(ctx, tx, m)
		if err != nil {
			return err
		}
		batches, excluded = batchesOf(rows)
		if len(batches) == 0 {
			return Invalid("没有可发送的客户", map[string]string{"segment": fmt.Sprintf(
				"人群中没有可发送的企业微信客户（%d 位本周已收到群发）", excluded)})
		}
		return s.record(ctx, tx, m, rows, batches, excluded)
	})
	return m, batches, excluded, err
}

func batchesOf(rows []massAudience) ([]massBatch, int) {
	var out []massBatch
	excluded := 0
	for _, r := range rows { // ordered by userid, external_userid
		if r.Excluded {
			excluded++
			continue
		}
		n := len(out)
		if n == 0 || out[n-1].UserID != r.UserID || len(out[n-1].Exts) == wecom.MaxMassRecipients {
			batch := 0
			if n > 0 && out[n-1].UserID == r.UserID {
				batch = out[n-1].Batch + 1
			}
			out = append(out, massBatch{UserID: r.UserID, Batch: batch})
			n++
		}
		out[n-1].Exts = append(out[n-1].Exts, r.ExternalUserID)
	}
	return out, excluded
}

// record writes the recipients (status 0: they count against the week from
// now on) and one sender row per batch.
func (s *MassMessageService) record(ctx context.Context, tx *sqlx.Tx, m MassMessage, rows []massAudience, batches []massBatch, excluded int) error {
	var exts, users []string
	var mus []int64
	var nums []int
	batchOf := map[string]int{}
	for _, b := range batches {
		for _, e := range b.Exts {
			batchOf[e] = b.Batch
		}
	}
	for _, r := range rows {
		if !r.Excluded {
			exts, users, mus, nums = append(exts, r.ExternalUserID), append(users, r.UserID), append(mus, r.MarketingUser), append(nums, batchOf[r.ExternalUserID])
		}
	}
	now := s.now()
	_, err := tx.ExecContext(ctx, `DELETE FROM mass_message_recipients WHERE message_id = $1;`, m.ID)
	if err == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM mass_message_senders WHERE message_id = $1`, m.ID)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `INSERT INTO mass_message_recipients (message_id, corp_id, external_userid, userid, batch, user_id, planned_at)
SELECT $1, $2, x.e, x.u, x.b, x.m, $7 FROM unnest($3::text[], $4::text[], $5::int[], $6::bigint[]) AS x(e, u, b, m)`,
			m.ID, m.CorpID, pq.Array(exts), pq.Array(users), pq.Array(nums), pq.Array(mus), now)
	}
	for _, b := range batches {
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO mass_message_senders (message_id, userid, batch, customers) VALUES ($1, $2, $3, $4)`,
				m.ID, b.UserID, b.Batch, len(b.Exts))
		}
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `UPDATE mass_messages SET status = 'sending', excluded_week = $2, last_error = '', updated_at = $3 WHERE id = $1`,
			m.ID, excluded, now)
	}
	if err != nil {
		return fmt.Errorf("massmsg: record: %w", err)
	}
	return nil
}

// sendBatch creates one employee's task and stores its msgid, or WeCom's
// refusal; customers WeCom refused (fail_list, or the whole call) are
// marked 4 so they do not count against their week.
func (s *MassMessageService) sendBatch(ctx context.Context, client *wecom.Client, m MassMessage, b massBatch) error {
	msg, err := s.message(ctx, m, b)
	var res wecom.MassMessageResult
	if err == nil {
		res, err = client.AddMsgTemplate(ctx, msg)
	}
	failed := res.FailList
	code, text := 0, ""
	if err != nil {
		failed = b.Exts
		code, text = apiFailure(err)
	}
	_, dbErr := s.db.ExecContext(ctx, `UPDATE mass_message_senders SET msgid = $4, status = CASE WHEN $4 = '' THEN -1 ELSE 0 END,
    errcode = $5, errmsg = $6 WHERE message_id = $1 AND userid = $2 AND batch = $3`, m.ID, b.UserID, b.Batch, res.MsgID, code, text)
	if dbErr == nil && len(failed) > 0 {
		_, dbErr = s.db.ExecContext(ctx, `UPDATE mass_message_recipients SET status = 4
WHERE message_id = $1 AND external_userid = ANY ($2)`, m.ID, pq.Array(failed))
	}
	if dbErr != nil {
		return fmt.Errorf("massmsg: batch result: %w", dbErr)
	}
	return err
}

// apiFailure is WeCom's errcode and a message for the admin.
func apiFailure(err error) (int, string) {
	var api *wecom.APIError
	switch {
	case errors.As(err, &api):
	case ErrorCode(err) != EINTERNAL:
		return -1, ErrorMessage(err) // our own refusal, e.g. the form went offline
	default:
		return -1, "无法连接企业微信"
	}
	msg := fmt.Sprintf("企业微信返回错误 %d", api.Code)
	if a := wecom.MassMessageAdvice(api.Code); a != "" {
		msg += "：" + a
	}
	return api.Code, msg
}

// message builds the batch's add_msg_template content: the text, and the
// form link signed for the sending employee (so opens and registrations
// are attributed to them) or the mini-program card.
func (s *MassMessageService) message(ctx context.Context, m MassMessage, b massBatch) (wecom.MassMessage, error) {
	out := wecom.MassMessage{Sender: b.UserID, ExternalUserIDs: b.Exts, Text: m.Text}
	switch m.AttachKind {
	case AttachForm:
		f, err := s.publishedForm(ctx, *m.FormID)
		if err != nil {
			return out, Errorf(EINVALID, "表单已下线")
		}
		at := Attribution{Channel: "massmsg", EmployeeUserID: b.UserID, CorpID: m.CorpID}
		link := s.attr.AttributedLink(s.baseURL, f, at, massLinkTTL, map[string]string{"utm_source": "wecom",
			"utm_medium": "massmsg", "utm_campaign": "massmsg-" + strconv.FormatInt(m.ID, 10)})
		out.Link = &wecom.Link{Title: f.Title, Desc: f.Description, URL: link, PicURL: f.CoverURL}
	case AttachMiniProgram:
		var appID string
		if err := s.db.GetContext(ctx, &appID, `SELECT mp_app_id FROM wecom_settings`); err != nil {
			return out, fmt.Errorf("massmsg: mp app id: %w", err)
		}
		out.MiniProgram = &wecom.MiniProgram{Title: m.MPTitle, PicMediaID: m.MPMediaID, AppID: appID, Page: m.MPPage}
	}
	return out, nil
}

// finish marks the message sent (some task exists) or failed, and audits.
func (s *MassMessageService) finish(ctx context.Context, v Operator, m MassMessage, res MassSendResult, lastErr error) error {
	status, msg := "sent", ""
	if res.Tasks == 0 {
		status = "failed"
		_, msg = apiFailure(lastErr)
	}
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mass_messages SET status = $2, last_error = $3, sent_at = CASE WHEN $2 = 'sent' THEN $4::timestamptz END,
    updated_at = $4 WHERE id = $1`, m.ID, status, msg, s.now())
		if err != nil {
			return fmt.Errorf("massmsg: finish: %w", err)
		}
		return s.audit.recordTx(ctx, tx, v.audit("mass_message_sent", "mass_message", strconv.FormatInt(m.ID, 10),
			map[string]any{"tasks": res.Tasks, "failed": res.Failed, "excluded_week": res.Excluded}))
	})
	if err != nil {
		return err
	}
	if status == "failed" {
		return Errorf(EUNAVAILABLE, "群发失败：%s", msg)
	}
	return nil
}
