package services

import (
	"context"
	"fmt"
	"time"
)

// MassSenderRow is one employee task and its customers' outcomes.
type MassSenderRow struct {
	UserID    string     `db:"userid"`
	Name      string     `db:"name"`
	Batch     int        `db:"batch"`
	MsgID     string     `db:"msgid"`
	Customers int        `db:"customers"`
	Status    int        `db:"status"` // -1 not created, 0 未发送, 1 已发送, 2 已取消
	SendTime  *time.Time `db:"send_time"`
	ErrCode   int        `db:"errcode"`
	ErrMsg    string     `db:"errmsg"`
	Sent      int        `db:"sent"`
	NotFriend int        `db:"not_friend"`
	AtLimit   int        `db:"at_limit"`
	Refused   int        `db:"refused"`
}

// MassRecipientRow is one customer's outcome.
type MassRecipientRow struct {
	ExternalUserID string     `db:"external_userid"`
	Name           string     `db:"name"`
	UserID         string     `db:"userid"`
	Status         int        `db:"status"` // 0 未发送, 1 已发送, 2 非好友, 3 已达上限, 4 创建时被拒
	SendTime       *time.Time `db:"send_time"`
}

// MassReport is a sent message with its per-employee and per-customer results.
type MassReport struct {
	MassMessage
	Senders    []MassSenderRow
	Recipients []MassRecipientRow // the first 500
	Totals     map[int]int        // recipients per status
}

// maxReportRecipients bounds the per-customer list on the page.
const maxReportRecipients = 500

// MassMessageReport returns the message and its results. Admins and managers.
// Errors: EFORBIDDEN, ENOTFOUND.
func (s *MassMessageService) MassMessageReport(ctx context.Context, v Operator, id int64) (MassReport, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return MassReport{}, err
	}
	m, err := s.find(ctx, id)
	if err != nil {
		return MassReport{}, err
	}
	r := MassReport{MassMessage: m, Totals: map[int]int{}}
	err = s.db.SelectContext(ctx, &r.Senders, `SELECT s.userid, coalesce(e.name, '') AS name, s.batch, s.msgid, s.customers,
    s.status, s.send_time, s.errcode, s.errmsg,
    count(r.*) FILTER (WHERE r.status = 1) AS sent, count(r.*) FILTER (WHERE r.status = 2) AS not_friend,
    count(r.*) FILTER (WHERE r.status = 3) AS at_limit, count(r.*) FILTER (WHERE r.status = 4) AS refused
FROM mass_message_senders s
LEFT JOIN wecom_employees e ON e.corp_id = $2 AND e.userid = s.userid
LEFT JOIN mass_message_recipients r ON r.message_id = s.message_id AND r.userid = s.userid AND r.batch = s.batch
WHERE s.message_id = $1
GROUP BY s.userid, e.name, s.batch, s.msgid, s.customers, s.status, s.send_time, s.errcode, s.errmsg
ORDER BY s.customers DESC, s.userid, s.batch`, id, m.CorpID)
	if err == nil {
		err = s.db.SelectContext(ctx, &r.Recipients, `SELECT r.external_userid, coalesce(c.name, '') AS name, r.userid, r.status, r.send_time
FROM mass_message_recipients r
LEFT JOIN wecom_external_contacts c ON c.corp_id = r.corp_id AND c.external_userid = r.external_userid
WHERE r.message_id = $1 ORDER BY r.status DESC, r.userid, r.external_userid LIMIT $2`, id, maxReportRecipients)
	}
	if err == nil {
		err = s.totals(ctx, id, r.Totals)
	}
	if err != nil {
		return r, fmt.Errorf("massmsg: report: %w", err)
	}
	return r, nil
}

func (s *MassMessageService) totals(ctx context.Context, id int64, into map[int]int) error {
	var rows []struct {
		Status int `db:"status"`
		N      int `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT status, count(*) AS n FROM mass_message_recipients WHERE message_id = $1 GROUP BY status`, id); err != nil {
		return err
	}
	for _, r := range rows {
		into[r.Status] = r.N
	}
	return nil
}
