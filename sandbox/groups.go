package sandbox

import (
	"slices"
	"strings"
)

// NewGroupChat is a customer group created in the client by its owner.
type NewGroupChat struct {
	Owner   string   `json:"owner"`
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"` // employee userids, people refs or external_userids
	Notice  string   `json:"notice,omitempty"`
}

// GroupMembersInput adds or removes group members.
type GroupMembersInput struct {
	ChatID    string   `json:"chat_id"`
	Members   []string `json:"members"`
	JoinScene int      `json:"join_scene,omitempty"` // 1 invited (default), 2 link, 3 QR
	QuitScene int      `json:"quit_scene,omitempty"` // 0 left, 1 removed
}

// CreateGroupChat creates a group owned by an employee and fires change_external_chat/create.
func (s *Sandbox) CreateGroupChat(in NewGroupChat) (GroupChat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner := s.w.employee(in.Owner)
	if owner == nil {
		return GroupChat{}, notFound("owner %q not found", in.Owner)
	}
	if in.Name == "" {
		in.Name = owner.Name + "的客户群"
	}
	g := &GroupChat{ChatID: s.w.newID("chat", "wr", 32), Name: in.Name, Owner: owner.UserID,
		CreateTime: s.now().Unix(), Notice: in.Notice, Admins: []string{}}
	g.Members = append(g.Members, &ChatMember{UserID: owner.UserID, Type: 1, JoinTime: g.CreateTime, JoinScene: 1, Name: owner.Name})
	if _, err := s.addMembers(g, in.Members, 1, owner.UserID); err != nil {
		return GroupChat{}, err
	}
	g.MemberVersion = s.w.newHex("memver", 32)
	s.w.GroupChats = append(s.w.GroupChats, g)
	s.w.chatByID[g.ChatID] = g
	s.emitChatChange(g.ChatID, "create")
	s.touch()
	return *g, nil
}

// addMembers resolves refs into members; callers hold s.mu.
func (s *Sandbox) addMembers(g *GroupChat, refs []string, scene int, invitor string) ([]string, error) {
	var added []string
	for _, ref := range refs {
		m, err := s.member(ref, scene, invitor)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(g.Members, func(x *ChatMember) bool { return strings.EqualFold(x.UserID, m.UserID) }) {
			continue
		}
		g.Members = append(g.Members, m)
		added = append(added, m.UserID)
	}
	return added, nil
}

func (s *Sandbox) member(ref string, scene int, invitor string) (*ChatMember, error) {
	now := s.now().Unix()
	if e := s.w.employee(ref); e != nil {
		return &ChatMember{UserID: e.UserID, Type: 1, JoinTime: now, JoinScene: scene, Invitor: invitor, Name: e.Name}, nil
	}
	p := s.w.person(ref)
	if p == nil {
		return nil, notFound("member %q is neither an employee nor a wechat user", ref)
	}
	return &ChatMember{UserID: p.ExternalUserID, Type: 2, JoinTime: now, JoinScene: scene, Invitor: invitor, Name: p.Nickname}, nil
}

func (s *Sandbox) liveChat(id string) (*GroupChat, error) {
	g := s.w.chatByID[id]
	if g == nil || g.Dismissed {
		return nil, notFound("group chat %q not found", id)
	}
	return g, nil
}

// JoinGroupChat adds members: change_external_chat/update add_member.
func (s *Sandbox) JoinGroupChat(in GroupMembersInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveChat(in.ChatID)
	if err != nil {
		return err
	}
	scene := in.JoinScene
	if scene == 0 {
		scene = 1
	}
	added, err := s.addMembers(g, in.Members, scene, "")
	if err != nil || len(added) == 0 {
		return err
	}
	s.chatUpdate(g, "add_member", added, num("JoinScene", int64(scene)))
	return nil
}

// LeaveGroupChat removes members: change_external_chat/update del_member.
func (s *Sandbox) LeaveGroupChat(in GroupMembersInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveChat(in.ChatID)
	if err != nil {
		return err
	}
	var removed []string
	for _, ref := range in.Members {
		id := ref
		if p := s.w.person(ref); p != nil {
			id = p.ExternalUserID
		}
		n := len(g.Members)
		g.Members = slices.DeleteFunc(g.Members, func(m *ChatMember) bool { return strings.EqualFold(m.UserID, id) })
		if len(g.Members) < n {
			removed = append(removed, id)
		}
	}
	if len(removed) == 0 {
		return notFound("none of the members are in %s", g.ChatID)
	}
	s.chatUpdate(g, "del_member", removed, num("QuitScene", int64(in.QuitScene)))
	return nil
}

func (s *Sandbox) chatUpdate(g *GroupChat, detail string, changed []string, scene xmlField) {
	last := g.MemberVersion
	g.MemberVersion = s.w.newHex("memver", 32)
	s.emitChatChange(g.ChatID, "update", text("UpdateDetail", detail), scene,
		num("MemChangeCnt", int64(len(changed))), items("MemChangeList", changed),
		text("LastMemVer", last), text("CurMemVer", g.MemberVersion))
	s.touch()
}

// DismissGroupChat dismisses a group: change_external_chat/dismiss.
func (s *Sandbox) DismissGroupChat(chatID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.liveChat(chatID)
	if err != nil {
		return err
	}
	g.Dismissed = true
	s.emitChatChange(g.ChatID, "dismiss")
	s.touch()
	return nil
}

// GroupChats lists the live groups.
func (s *Sandbox) GroupChats() []GroupChat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []GroupChat
	for _, g := range s.w.GroupChats {
		if !g.Dismissed {
			out = append(out, *g)
		}
	}
	return out
}

// NewCorpTag is a tag created by an admin in the console.
type NewCorpTag struct {
	GroupName string `json:"group_name"`
	Name      string `json:"name"`
}

// CreateCorpTag adds a tag (and its group) and fires change_external_tag/create.
func (s *Sandbox) CreateCorpTag(in NewCorpTag) (Tag, error) {
	if in.GroupName == "" || in.Name == "" {
		return Tag{}, invalid("group_name and name are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req := addTagRequest{GroupName: in.GroupName}
	req.Tag = append(req.Tag, struct {
		Name  string `json:"name"`
		Order int64  `json:"order"`
	}{Name: in.Name})
	g, aerr := s.tagGroupFor(req)
	if aerr != nil {
		return Tag{}, invalid("%s", aerr.Msg)
	}
	t := s.addTags(g, req)[0]
	s.emitTagChange(t.ID, "tag", "create")
	s.touch()
	return *t, nil
}

// DeleteCorpTag deletes a tag in the console: change_external_tag/delete.
func (s *Sandbox) DeleteCorpTag(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.w.tagByID[id]
	if t == nil {
		return notFound("tag %q not found", id)
	}
	t.group.Tags = without(t.group.Tags, t)
	s.w.TagGroups = slices.DeleteFunc(s.w.TagGroups, func(g *TagGroup) bool { return len(g.Tags) == 0 })
	s.w.reindexTags()
	s.emitTagChange(id, "tag", "delete")
	s.touch()
	return nil
}
