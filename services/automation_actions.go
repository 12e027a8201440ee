package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// relation is one employee following the customer in WeCom.
type relation struct {
	UserID string `db:"userid"`
	Ext    string `db:"external_userid"`
}

// relations lists the customer's live relations, the moment's own employee
// first, then the newest. hasWeCom is false when the customer has no
// external_userid at all.
func (s *AutomationService) relations(ctx context.Context, t automationTarget) (rels []relation, hasWeCom bool, err error) {
	err = s.db.GetContext(ctx, &hasWeCom, `SELECT EXISTS (SELECT 1 FROM identities
WHERE user_id = $1 AND kind = 'wecom_external_userid' AND scope = $2)`, t.UserID, t.CorpID)
	if err != nil || !hasWeCom {
		return nil, false, wrapErr("automation: identities", err)
	}
	err = s.db.SelectContext(ctx, &rels, `SELECT f.userid, f.external_userid
FROM identities i JOIN wecom_follows f ON f.corp_id = i.scope AND f.external_userid = i.key AND f.deleted_at IS NULL
WHERE i.user_id = $1 AND i.kind = 'wecom_external_userid' AND i.scope = $2
ORDER BY (f.userid = $3) DESC, f.createtime DESC NULLS LAST, f.userid`, t.UserID, t.CorpID, t.Employee)
	return rels, true, wrapErr("automation: relations", err)
}

// tagAction puts the rule's corp tag on the customer's relation with the
// following employee. mark_tag is idempotent, so a retry after a crash
// simply marks again.
func (s *AutomationService) tagAction(ctx context.Context, t automationTarget) (txAction, error) {
	rels, hasWeCom, err := s.relations(ctx, t)
	switch {
	case err != nil:
		return nil, err
	case !hasWeCom:
		return skip("客户没有企业微信身份"), nil
	case len(rels) == 0:
		return skip("没有跟进该客户的员工"), nil
	}
	client, err := s.wechat.WeChat(ctx)
	if err != nil {
		return nil, err
	}
	r, tag := rels[0], t.Rule.TagID
	if err := client.MarkTag(ctx, r.UserID, r.Ext, []string{tag}, nil); err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *sqlx.Tx) (actionResult, error) {
		// WeCom sends no callback for API changes: keep the mirror in step
		_, err := tx.ExecContext(ctx, `UPDATE wecom_follows SET tag_ids = array_append(array_remove(tag_ids, $4), $4), updated_at = now()
WHERE corp_id = $1 AND userid = $2 AND external_userid = $3`, t.CorpID, r.UserID, r.Ext, tag)
		return actionResult{Outcome: "已打标签「" + t.Rule.TagName + "」（跟进员工 " + r.UserID + "）",
			Title: "自动打标签：" + t.Rule.TagName, Employee: r.UserID,
			Detail: map[string]any{"tag_id": tag, "external_userid": r.Ext}}, wrapErr("automation: tag mirror", err)
	}, nil
}

// notifyAction sends the following employees an app message card linking
// the customer's console profile.
//
// message/send is not idempotent. The execution row records sending_since
// before the call and clears it with the answer; an attempt that finds it
// still set (a crash or a lost lease between the call and the record) cannot
// know whether WeCom delivered, and records that instead of sending twice.
func (s *AutomationService) notifyAction(ctx context.Context, j automationJob, t automationTarget) (txAction, error) {
	if j.WasSending {
		return skip("上次发送中断，无法确认是否送达；为避免重复通知未重发"), nil
	}
	rels, _, err := s.relations(ctx, t)
	if err != nil {
		return nil, err
	}
	to := receivers(rels, t.Employee)
	if len(to) == 0 {
		return skip("没有跟进该客户的员工"), nil
	}
	client, err := s.wechat.WeChat(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.markSending(ctx, j, true); err != nil {
		return nil, err
	}
	res, err := client.SendAppMessage(ctx, wecom.AppMessage{ToUsers: to, TextCard: s.card(t)})
	if wecom.IsAPIError(err, 81013) {
		return skip("接收员工均无效（已离职或不在应用可见范围）"), nil
	}
	if err != nil {
		// WeCom answered an error: nothing was sent, so the retry may send
		if wecom.IsAPIError(err) {
			_ = s.markSending(ctx, j, false)
		}
		return nil, err
	}
	return func(context.Context, *sqlx.Tx) (actionResult, error) {
		// members without an interface licence (代开发 apps) are not reached either
		reached := len(to) - len(res.InvalidUsers) - len(res.UnlicensedUsers)
		outcome := fmt.Sprintf("已通知 %d 名员工", reached)
		if len(res.UnlicensedUsers) > 0 {
			outcome += fmt.Sprintf("（%d 名员工没有接口许可，未送达）", len(res.UnlicensedUsers))
		}
		return actionResult{Outcome: outcome, Title: "自动通知跟进员工",
			Employee: to[0], Detail: map[string]any{"to": to, "msgid": res.MsgID, "unlicensed": res.UnlicensedUsers}}, nil
	}, nil
}

func receivers(rels []relation, employee string) []string {
	var to []string
	for _, r := range rels {
		to = append(to, r.UserID)
	}
	if len(to) == 0 && employee != "" {
		to = []string{employee}
	}
	return uniqStrings(to)
}

func (s *AutomationService) markSending(ctx context.Context, j automationJob, on bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE automation_executions SET sending_since = CASE WHEN $3 THEN now() END
WHERE rule_id = $1 AND moment_id = $2 AND state = 'pending'`, j.RuleID, j.MomentID, on)
	return wrapErr("automation: sending", err)
}

func (s *AutomationService) card(t automationTarget) *wecom.TextCard {
	what := string(t.Kind)
	if t.Title != "" {
		what += "：" + t.Title
	}
	return &wecom.TextCard{Title: "客户动态：" + t.Rule.Name, ButtonText: "查看客户",
		URL: s.baseURL + "/admin/users/" + strconv.FormatInt(t.UserID, 10),
		Description: fmt.Sprintf(`<div class="gray">%s</div><div class="normal">%s</div>`,
			t.OccurredAt.In(chinaTime).Format("01-02 15:04"), html.EscapeString(what))}
}

// assignAction assigns the customer to the candidate with the fewest
// assigned customers below the rule's maximum. The candidates' advisory
// locks (taken in a fixed order, so never a deadlock) are held until the
// transaction ends: two workers cannot both count an employee at max-1 and
// both assign.
func (s *AutomationService) assignAction(t automationTarget) txAction {
	return func(ctx context.Context, tx *sqlx.Tx) (actionResult, error) {
		var current string
		err := tx.GetContext(ctx, &current, `SELECT userid FROM automation_assignments WHERE user_id = $1`, t.UserID)
		if err == nil {
			return actionResult{Skipped: true, Outcome: "客户已分配给 " + current}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return actionResult{}, fmt.Errorf("automation: current assignment: %w", err)
		}
		pick, err := s.leastLoaded(ctx, tx, t)
		if err != nil || pick.UserID == "" {
			return actionResult{Skipped: true, Outcome: fmt.Sprintf("跳过：所选员工均已满（每人上限 %d）", t.Rule.MaxPerEmployee)}, err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO automation_assignments (user_id, corp_id, userid, rule_id, moment_id, assigned_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING`, t.UserID, t.CorpID, pick.UserID, t.Rule.ID, t.MomentID, s.now())
		if err != nil {
			return actionResult{}, fmt.Errorf("automation: assign: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return actionResult{Skipped: true, Outcome: "客户已分配"}, nil
		}
		return actionResult{Outcome: fmt.Sprintf("已分配给 %s（现有 %d 名客户）", pick.Name, pick.Load+1),
			Title: "自动分配给：" + pick.Name, Employee: pick.UserID, Detail: map[string]any{"assigned_to": pick.UserID}}, nil
	}
}

type candidate struct {
	UserID string `db:"userid"`
	Name   string `db:"name"`
	Load   int    `db:"load"`
}

func (s *AutomationService) leastLoaded(ctx context.Context, tx *sqlx.Tx, t automationTarget) (candidate, error) {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('automation_assign'), hashtext(u))
FROM (SELECT u FROM unnest($1::text[]) u ORDER BY u) c`, pq.Array(t.Rule.Employees))
	if err != nil {
		return candidate{}, fmt.Errorf("automation: lock employees: %w", err)
	}
	var c candidate
	err = tx.GetContext(ctx, &c, `SELECT e.userid, e.name,
    (SELECT count(*) FROM automation_assignments a WHERE a.corp_id = e.corp_id AND a.userid = e.userid) AS load
FROM wecom_employees e
WHERE e.corp_id = $1 AND e.userid = ANY ($2) AND e.deleted_at IS NULL AND e.status = 1
ORDER BY load, e.userid LIMIT 1`, t.CorpID, pq.Array(t.Rule.Employees))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && c.Load >= t.Rule.MaxPerEmployee) {
		return candidate{}, nil
	}
	return c, wrapErr("automation: loads", err)
}

// growthAction credits the rule's points to the member through the member
// growth code (ledger + settle), so a level change records
// member_level_changed in the same transaction.
func (s *AutomationService) growthAction(t automationTarget) txAction {
	return func(ctx context.Context, tx *sqlx.Tx) (actionResult, error) {
		var identity *int64
		err := tx.GetContext(ctx, &identity, `SELECT min(id) FROM identities WHERE user_id = $1 AND kind = 'member'`, t.UserID)
		if err != nil {
			return actionResult{}, fmt.Errorf("automation: member: %w", err)
		}
		if identity == nil {
			return actionResult{Skipped: true, Outcome: "客户不是会员，未加成长值"}, nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO member_growth_ledger (identity_id, points, reason, actor, at) VALUES ($1, $2, $3, 'automation', $4)`,
			*identity, t.Rule.Points, "automation:rule:"+strconv.FormatInt(t.Rule.ID, 10), s.now())
		if err != nil {
			return actionResult{}, fmt.Errorf("automation: growth: %w", err)
		}
		st, err := s.members.settle(ctx, tx, t.UserID)
		if err != nil {
			return actionResult{}, err
		}
		return actionResult{Outcome: fmt.Sprintf("+%d 成长值，现为 %d（%s）", t.Rule.Points, st.Points, st.Level.Name),
			Title: fmt.Sprintf("自动加成长值：+%d", t.Rule.Points), Detail: map[string]any{"points": t.Rule.Points, "level": st.Level.Name}}, nil
	}
}
