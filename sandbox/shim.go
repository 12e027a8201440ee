package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// ShimHandler serves the browser shim of the WeCom JS-SDK (`ww`, legacy
// `wx`) and the small JSON API it talks to. The app mounts it ONLY in
// sandbox mode, e.g. mux.Handle("/sandbox/", http.StripPrefix("/sandbox", s.ShimHandler())),
// and loads <script src="/sandbox/ww-shim.js"> instead of the real SDK. The
// shim finds its API next to its own URL, so it stays same-origin and works
// under a strict CSP (no inline script, no eval).
//
//	GET  /ww-shim.js           the shim
//	GET  /context              the chat the sidebar is "open" in
//	POST /context              set it {entry, userid, external_userid, chat_id}
//	GET  /options?userid=      employees, that employee's customers and groups (picker)
//	POST /verify               {kind: config|agent, url, timestamp, nonceStr, signature}
//	POST /send-chat-message    ww.sendChatMessage payload → outbox
func (s *Sandbox) ShimHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ww-shim.js", func(w http.ResponseWriter, r *http.Request) {
		serveAsset(w, r, "assets/ww-shim.js")
	})
	mux.HandleFunc("GET /context", jsonAPI(func(*http.Request) (any, error) { return s.SidebarContext(), nil }))
	mux.HandleFunc("POST /context", jsonAPI(func(r *http.Request) (any, error) {
		var in SidebarContext
		if err := decodeJSON(r, &in); err != nil {
			return nil, err
		}
		return in, s.SetSidebarContext(in)
	}))
	mux.HandleFunc("GET /options", jsonAPI(func(r *http.Request) (any, error) {
		return s.sidebarOptions(r.URL.Query().Get("userid")), nil
	}))
	mux.HandleFunc("POST /verify", jsonAPI(func(r *http.Request) (any, error) {
		var in JSSDKSignatureCheck
		if err := decodeJSON(r, &in); err != nil {
			return nil, err
		}
		return s.CheckJSSDKSignature(in), nil
	}))
	mux.HandleFunc("POST /send-chat-message", jsonAPI(func(r *http.Request) (any, error) {
		var payload json.RawMessage
		if err := decodeJSON(r, &payload); err != nil {
			return nil, err
		}
		return s.SendChatMessage(payload)
	}))
	return mux
}

// chatEntries are the getContext entries from which sendChatMessage works.
func chatEntries() []string {
	return []string{"single_chat_tools", "group_chat_tools", "chat_attachment", "single_kf_tools"}
}

// SidebarContext returns what the shim reports as the open chat.
func (s *Sandbox) SidebarContext() SidebarContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Sidebar
}

// SetSidebarContext chooses the employee, entry and customer / group the
// shim pretends the sidebar is open in.
func (s *Sandbox) SetSidebarContext(c SidebarContext) error {
	if c.Entry == "" {
		c.Entry = "single_chat_tools"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.UserID != "" && s.w.employee(c.UserID) == nil {
		return notFound("employee %q not found", c.UserID)
	}
	if c.ExternalUserID != "" && s.w.byExt[c.ExternalUserID] == nil {
		return notFound("external_userid %q not found", c.ExternalUserID)
	}
	if c.ChatID != "" && s.w.chatByID[c.ChatID] == nil {
		return notFound("chat %q not found", c.ChatID)
	}
	s.w.Sidebar = c
	s.touch()
	return nil
}

type sidebarChoice struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Sandbox) sidebarOptions(userID string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	emps, customers, chats := []sidebarChoice{}, []sidebarChoice{}, []sidebarChoice{}
	for _, e := range s.w.Employees {
		emps = append(emps, sidebarChoice{e.UserID, e.Name})
	}
	for _, f := range s.w.followsBy[strings.ToLower(userID)] {
		if len(customers) == 200 {
			break
		}
		customers = append(customers, sidebarChoice{f.ExternalUserID, s.w.byExt[f.ExternalUserID].Nickname})
	}
	for _, g := range s.w.GroupChats {
		if !g.Dismissed && (userID == "" || slices.ContainsFunc(g.Members, func(m *ChatMember) bool { return strings.EqualFold(m.UserID, userID) })) {
			chats = append(chats, sidebarChoice{g.ChatID, g.Name})
		}
	}
	return map[string]any{"employees": emps, "customers": customers, "chats": chats, "entries": append(chatEntries(), "contact_profile", "normal"),
		"corp_id": s.opts.Corp.CorpID, "agent_id": s.opts.Corp.AgentID, "context": s.w.Sidebar}
}

// JSSDKSignatureCheck is a signature the page handed to ww.register / wx.config.
type JSSDKSignatureCheck struct {
	Kind      string `json:"kind"` // "config" (corp jsapi_ticket) or "agent" (agent_config ticket)
	URL       string `json:"url"`
	Timestamp string `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// JSSDKResult is what the shim's register callbacks receive.
type JSSDKResult struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// CheckJSSDKSignature validates a signature against the tickets the sandbox
// issued: 40093 when it matches none, 42012 when it was made with the other
// kind of ticket (e.g. the corp ticket for agentConfig).
func (s *Sandbox) CheckJSSDKSignature(in JSSDKSignatureCheck) JSSDKResult {
	want, other := "jsapi", "agent_config"
	if in.Kind == "agent" {
		want, other = other, want
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := map[string]bool{}
	for _, t := range s.w.Tickets {
		if wxcrypto.JSSDKSignature(t.Value, in.NonceStr, in.Timestamp, in.URL) == in.Signature {
			found[t.Kind] = true
		}
	}
	switch {
	case found[want]:
		return JSSDKResult{0, "ok"}
	case found[other]:
		return JSSDKResult{42012, "jsapi_ticket is not for " + in.Kind}
	}
	return JSSDKResult{40093, "invalid signature"}
}

// SendChatMessage records a ww.sendChatMessage payload as a message in the
// chat the sidebar is open in.
func (s *Sandbox) SendChatMessage(payload json.RawMessage) (JSSDKResult, error) {
	var msg struct {
		MsgType string `json:"msgtype"`
	}
	if err := json.Unmarshal(payload, &msg); err != nil || msg.MsgType == "" {
		return JSSDKResult{}, invalid("payload needs a msgtype")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.w.Sidebar
	if !slices.Contains(chatEntries(), c.Entry) {
		return JSSDKResult{-1, "sendChatMessage:fail not in a chat (entry " + c.Entry + ")"}, nil
	}
	keys := map[string]any{"userid": c.UserID, "entry": c.Entry, "msgtype": msg.MsgType}
	if c.Entry == "group_chat_tools" {
		keys["chat_id"] = c.ChatID
	} else {
		keys["external_userid"] = c.ExternalUserID
	}
	s.addOutbox(OutboxChatMessage, keys, payload)
	return JSSDKResult{0, "sendChatMessage:ok"}, nil
}
