package services

import (
	"context"
	"fmt"
	"slices"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// SidebarGroup is a customer group chat as the sidebar shows it.
type SidebarGroup struct {
	ChatID, Name, Owner, OwnerName string
	Members                        int // everyone in the group
	Customers                      int // external members
	KnownUsers                     int // customers who are known marketing users
	Moments                        []SidebarMoment
}

// groupMomentsLimit is how many recent group moments the sidebar shows.
const groupMomentsLimit = 10

// Group reads the group chat from WeCom (groupchat/get, so members are
// current) and counts how many of its customers are known marketing users,
// with the group's recent moments. Staff see groups they are in; managers
// also groups owned in their departments; admins all. Errors: ENOTFOUND,
// *wecom.APIError.
func (s *SidebarService) Group(ctx context.Context, v Viewer, chatID string, api SidebarWeCom) (SidebarGroup, error) {
	g, err := api.GetGroupChat(ctx, chatID)
	if err != nil {
		return SidebarGroup{}, err
	}
	var exts, unionids []string
	inGroup := g.Owner == v.UserID
	for _, m := range g.Members {
		switch m.Type {
		case 1:
			inGroup = inGroup || m.UserID == v.UserID
		case 2:
			exts = append(exts, m.UserID)
			if m.UnionID != "" {
				unionids = append(unionids, m.UnionID)
			}
		}
	}
	out := SidebarGroup{ChatID: g.ChatID, Name: g.Name, Owner: g.Owner, Members: len(g.Members), Customers: len(exts)}
	if err := s.groupFacts(ctx, v, g, inGroup, exts, unionids, &out); err != nil {
		return SidebarGroup{}, err
	}
	return out, s.db.SelectContext(ctx, &out.Moments, `SELECT m.id, m.identity_id, i.kind AS identity_kind, m.kind,
       m.occurred_at, m.channel, m.employee_userid, m.title, m.detail, coalesce(e.name, '') AS employee_name
FROM moments m JOIN identities i ON i.id = m.identity_id
LEFT JOIN wecom_employees e ON e.corp_id = $2 AND e.userid = m.employee_userid
WHERE m.detail ? 'chat_id' AND m.detail ->> 'chat_id' = $1
ORDER BY m.occurred_at DESC, m.id DESC LIMIT $3`, chatID, v.CorpID, groupMomentsLimit)
}

// groupFacts checks the viewer's access to the group and counts known
// members, in one round trip.
func (s *SidebarService) groupFacts(ctx context.Context, v Viewer, g wecom.GroupChat, inGroup bool, exts, unionids []string, out *SidebarGroup) error {
	var r struct {
		Role       string        `db:"role"`
		Depts      pq.Int64Array `db:"depts"`
		OwnerDepts pq.Int64Array `db:"owner_depts"`
		OwnerName  string        `db:"owner_name"`
		Known      int           `db:"known"`
	}
	err := s.db.GetContext(ctx, &r, `SELECT coalesce(r.role, 'staff') AS role, coalesce(r.department_ids, '{}') AS depts,
  coalesce(o.departments::bigint[], '{}') AS owner_depts, coalesce(o.name, '') AS owner_name,
  (SELECT count(DISTINCT user_id) FROM identities
    WHERE (kind = 'wecom_external_userid' AND scope = $1 AND key = ANY ($4))
       OR (kind = 'unionid' AND key = ANY ($5))) AS known
FROM (SELECT 1) one
LEFT JOIN staff_roles r ON r.corp_id = $1 AND r.userid = $2
LEFT JOIN wecom_employees o ON o.corp_id = $1 AND o.userid = $3`,
		v.CorpID, v.UserID, g.Owner, pq.Array(exts), pq.Array(unionids))
	if err != nil {
		return fmt.Errorf("sidebar: group: %w", err)
	}
	managed := r.Role == RoleManager && slices.ContainsFunc(r.OwnerDepts, func(d int64) bool { return slices.Contains(r.Depts, d) })
	if !inGroup && r.Role != RoleAdmin && !managed {
		return Errorf(ENOTFOUND, "客户群不存在或你不在群中")
	}
	out.OwnerName, out.KnownUsers = r.OwnerName, r.Known
	return nil
}
