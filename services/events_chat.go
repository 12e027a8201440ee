package services

import (
	"context"
	"strconv"
	"strings"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// externalChat handles change_external_chat: the group is re-read (the event
// carries no detail) and mirrored; customers who joined or left get
// group_joined / group_left moments.
func (h handling) externalChat(ctx context.Context) error {
	ev := h.ev
	if ev.ChangeType == "dismiss" {
		return h.p.mirror.MarkChatDismissed(ctx, h.corp, ev.ChatID, ev.at())
	}
	c, err := h.client()
	if err != nil {
		return err
	}
	before, err := h.p.mirror.ChatMembers(ctx, h.corp, ev.ChatID)
	if err != nil {
		return err
	}
	g, err := c.GetGroupChat(ctx, ev.ChatID)
	if wecom.IsAPIError(err, 40050, 49008) {
		return nil // dismissed or gone since
	}
	if err != nil {
		return err
	}
	if err := h.p.mirror.SaveGroupChat(ctx, h.corp, g); err != nil {
		return err
	}
	joined, left := chatChanges(ev, before, g)
	for _, m := range joined {
		if err := h.groupMoment(ctx, g, m, "group_joined"); err != nil {
			return err
		}
	}
	for _, m := range left {
		if err := h.groupMoment(ctx, g, m, "group_left"); err != nil {
			return err
		}
	}
	return nil
}

// chatChanges returns the customers who joined and left: from MemChangeList
// when WeCom sends it, else from the difference with the mirror. On create
// every customer member counts as joined.
func chatChanges(ev callbackEvent, before map[string]wecom.ChatMember, g wecom.GroupChat) (joined, left []wecom.ChatMember) {
	now := map[string]wecom.ChatMember{}
	for _, m := range g.Members {
		now[m.UserID] = m
	}
	switch {
	case ev.ChangeType == "create":
		joined = g.Members
	case ev.UpdateDetail == "add_member":
		for _, id := range changed(ev, now, before, true) {
			joined = append(joined, now[id])
		}
	case ev.UpdateDetail == "del_member":
		for _, id := range changed(ev, before, now, false) {
			m, ok := before[id]
			if !ok {
				m = wecom.ChatMember{UserID: id, Type: guessMemberType(id)}
			}
			left = append(left, m)
		}
	}
	return customersOnly(joined), customersOnly(left)
}

// changed lists the ids in MemChangeList, or those in a but not in b.
func changed(ev callbackEvent, a, b map[string]wecom.ChatMember, mustBeIn bool) []string {
	if len(ev.MemChangeList) > 0 {
		var out []string
		for _, id := range ev.MemChangeList {
			if _, ok := a[id]; ok || !mustBeIn {
				out = append(out, id)
			}
		}
		return out
	}
	var out []string
	for id := range a {
		if _, ok := b[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// guessMemberType: external_userids start with wm (WeChat) or wo (WeCom).
func guessMemberType(id string) int {
	if strings.HasPrefix(id, "wm") || strings.HasPrefix(id, "wo") {
		return 2
	}
	return 1
}

func customersOnly(ms []wecom.ChatMember) []wecom.ChatMember {
	var out []wecom.ChatMember
	for _, m := range ms {
		if m.Type == 2 {
			out = append(out, m)
		}
	}
	return out
}

func (h handling) groupMoment(ctx context.Context, g wecom.GroupChat, m wecom.ChatMember, kind MomentKind) error {
	ids := []IdentityInput{{Kind: KindExternalUserID, Scope: h.corp, Key: m.UserID, Attrs: Attributes{Nickname: m.Name}}}
	if m.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: m.UnionID})
	}
	title := "加入客户群「" + g.Name + "」"
	scene := h.ev.JoinScene
	if kind == "group_left" {
		title, scene = "退出客户群「"+g.Name+"」", h.ev.QuitScene
	}
	mo := MomentInput{Kind: kind, Channel: m.State, EmployeeUserID: g.Owner, Title: title,
		Detail:   detail("chat_id", g.ChatID, "chat_name", g.Name, "scene", scene),
		DedupKey: dedup(kind, h.corp, g.ChatID, m.UserID, h.ev.CreateTime, h.ev.ChangeType, h.ev.CurMemVer)}
	return h.link(ctx, "wecom", ids, []MomentInput{mo})
}

// externalTag handles change_external_tag: the payload has no names, so the
// tag library is re-read; a delete marks the tag or group deleted.
func (h handling) externalTag(ctx context.Context) error {
	ev := h.ev
	if ev.ChangeType == "delete" {
		return h.p.mirror.MarkTagDeleted(ctx, h.corp, ev.ID, ev.TagType == "tag_group", ev.at())
	}
	c, err := h.client()
	if err != nil {
		return err
	}
	groups, err := c.CorpTags(ctx, nil, nil)
	if err != nil {
		return err
	}
	return h.p.mirror.SaveTagLibrary(ctx, h.corp, groups)
}

// contact handles change_contact: employees and departments.
func (h handling) contact(ctx context.Context) error {
	ev := h.ev
	switch ev.ChangeType {
	case "create_user", "update_user":
		return h.saveEmployee(ctx)
	case "delete_user":
		return h.p.mirror.MarkEmployeeDeleted(ctx, h.corp, ev.UserID, ev.at())
	case "create_party", "update_party":
		id, err := strconv.Atoi(ev.ID)
		if err != nil {
			return permanent("events: party id %q: %v", ev.ID, err)
		}
		return h.p.mirror.SaveDepartment(ctx, h.corp, wecom.Department{ID: id, Name: ev.Name, ParentID: ev.ParentID, Order: int(ev.Order)},
			ev.ChangeType == "update_party")
	case "delete_party":
		id, _ := strconv.Atoi(ev.ID)
		return h.p.mirror.MarkDepartmentDeleted(ctx, h.corp, id, ev.at())
	}
	return nil
}

// saveEmployee reads the member through the API (the event may carry only
// the changed fields); when the API refuses (e.g. out of the app's visible
// range) the event's own fields are mirrored.
func (h handling) saveEmployee(ctx context.Context) error {
	ev := h.ev
	if ev.NewUserID != "" && ev.NewUserID != ev.UserID {
		if err := h.p.mirror.RenameEmployee(ctx, h.corp, ev.UserID, ev.NewUserID); err != nil {
			return err
		}
		ev.UserID = ev.NewUserID
	}
	c, err := h.client()
	if err != nil {
		return err
	}
	u, err := c.GetUser(ctx, ev.UserID)
	if wecom.IsAPIError(err, 60011, 60111, 48002) {
		u = wecom.User{UserID: ev.UserID, Name: ev.Name, MainDepartment: ev.MainDepartment, Position: ev.Position, Status: ev.Status}
		for _, d := range strings.Split(ev.Department, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(d)); err == nil {
				u.Departments = append(u.Departments, n)
			}
		}
		return h.p.mirror.SaveEmployee(ctx, h.corp, u, false)
	}
	if err != nil {
		return err
	}
	return h.p.mirror.SaveEmployee(ctx, h.corp, u, true)
}
