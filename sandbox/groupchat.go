package sandbox

import (
	"slices"
	"strings"
)

// ecGroupChatList: POST groupchat/list {status_filter, owner_filter{userid_list ≤100}, cursor, limit 1..1000 required}.
func (s *Sandbox) ecGroupChatList(c *call) (any, *apiError) {
	var req struct {
		StatusFilter int `json:"status_filter"`
		OwnerFilter  *struct {
			UserIDList []string `json:"userid_list"`
		} `json:"owner_filter"`
		Cursor string `json:"cursor"`
		Limit  int    `json:"limit"`
	}
	empty := func(e *apiError) *apiError { return e.with("group_chat_list", []any{}) }
	if aerr := c.decode(&req); aerr != nil {
		return nil, empty(aerr)
	}
	if req.Limit < 1 || req.Limit > 1000 {
		return nil, empty(errBadParam("limit must be 1..1000"))
	}
	var owners []string
	if req.OwnerFilter != nil {
		owners = req.OwnerFilter.UserIDList
	}
	if len(owners) > 100 {
		return nil, empty(errBadParam("owner_filter.userid_list exceeds 100"))
	}
	type item struct {
		ChatID string `json:"chat_id"`
		Status int    `json:"status"`
	}
	all := []item{}
	for _, g := range s.w.GroupChats {
		ownerOK := (len(owners) == 0 || slices.ContainsFunc(owners, func(o string) bool { return strings.EqualFold(o, g.Owner) })) &&
			s.licensed(g.Owner, true)
		if !g.Dismissed && ownerOK && (req.StatusFilter == 0 || g.Status == req.StatusFilter) {
			all = append(all, item{g.ChatID, g.Status})
		}
	}
	scope := strings.ToLower(strings.Join(owners, ","))
	offset, aerr := s.decodeCursor(req.Cursor, "chats", scope)
	if aerr != nil {
		return nil, empty(aerr)
	}
	from, to, next := s.page("chats", scope, offset, req.Limit, len(all))
	return struct {
		okBody
		GroupChatList []item `json:"group_chat_list"`
		NextCursor    string `json:"next_cursor"`
	}{ok(), all[from:to], next}, nil
}

type chatMemberBody struct {
	UserID    string `json:"userid"`
	Type      int    `json:"type"`
	UnionID   string `json:"unionid,omitempty"`
	JoinTime  int64  `json:"join_time"`
	JoinScene int    `json:"join_scene"`
	Invitor   *struct {
		UserID string `json:"userid"`
	} `json:"invitor,omitempty"`
	GroupNickname string `json:"group_nickname"`
	Name          string `json:"name,omitempty"`
}

// ecGroupChatGet: POST groupchat/get {chat_id, need_name}.
func (s *Sandbox) ecGroupChatGet(c *call) (any, *apiError) {
	var req struct {
		ChatID   string `json:"chat_id"`
		NeedName int    `json:"need_name"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	g := s.w.chatByID[req.ChatID]
	if g == nil || g.Dismissed {
		return nil, apiErr(40050, "chatid not found")
	}
	if !s.licensed(g.Owner, true) {
		return nil, errNoInterop()
	}
	members := make([]chatMemberBody, 0, len(g.Members))
	for _, m := range g.Members {
		members = append(members, s.memberBody(m, req.NeedName == 1))
	}
	type admin struct {
		UserID string `json:"userid"`
	}
	admins := []admin{}
	for _, a := range g.Admins {
		admins = append(admins, admin{a})
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "group_chat": map[string]any{
		"chat_id": g.ChatID, "name": g.Name, "owner": g.Owner, "create_time": g.CreateTime, "notice": g.Notice,
		"member_list": members, "admin_list": admins, "member_version": g.MemberVersion}}, nil
}

func (s *Sandbox) memberBody(m *ChatMember, needName bool) chatMemberBody {
	b := chatMemberBody{UserID: m.UserID, Type: m.Type, JoinTime: m.JoinTime, JoinScene: m.JoinScene,
		GroupNickname: m.GroupNickname}
	if m.Invitor != "" {
		b.Invitor = &struct {
			UserID string `json:"userid"`
		}{m.Invitor}
	}
	if m.Type == 2 {
		if p := s.w.byExt[m.UserID]; p != nil {
			b.UnionID = p.UnionID
		}
	}
	if needName {
		b.Name = m.Name
	}
	return b
}
