package sandbox

import (
	"strings"
)

// State is the console's overview: where everything is and how much exists.
type State struct {
	URLs        URLs              `json:"urls"`
	Corp        CorpConfig        `json:"corp"`
	Official    OfficialConfig    `json:"official"`
	MiniProgram MiniProgramConfig `json:"mini_program"`
	Counts      map[string]int    `json:"counts"`
	Sidebar     SidebarContext    `json:"sidebar"`
}

// State reports credentials (it is a local sandbox: they are not secrets) and counts.
func (s *Sandbox) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{URLs: s.urls, Corp: s.opts.Corp, Official: s.opts.Official, MiniProgram: s.opts.MiniProgram,
		Sidebar: s.w.Sidebar, Counts: map[string]int{
			"departments": len(s.w.Departments), "employees": len(s.w.Employees), "wechat_users": len(s.w.People),
			"contacts": len(s.w.Follows), "customers": len(s.w.followsOf), "fans": len(s.w.fans),
			"group_chats": len(s.w.GroupChats), "contact_ways": len(s.w.ContactWays), "tags": len(s.w.tagByID),
			"callbacks": len(s.w.Callbacks), "outbox": len(s.w.Outbox), "faults": len(s.w.Faults)}}
}

// WeChatUsers lists people matching q (name, id, phone, any id), at most limit.
func (s *Sandbox) WeChatUsers(q string, limit int) []WeChatUser {
	q = strings.ToLower(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []WeChatUser{}
	for _, p := range s.w.People {
		if len(out) >= limit {
			break
		}
		if matches(q, p.ID, p.Nickname, p.Phone, p.UnionID, p.OAOpenID, p.ExternalUserID) {
			out = append(out, userOf(p))
		}
	}
	return out
}

// Departments lists the departments.
func (s *Sandbox) Departments() []Department {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Department, 0, len(s.w.Departments))
	for _, d := range s.w.Departments {
		out = append(out, *d)
	}
	return out
}
