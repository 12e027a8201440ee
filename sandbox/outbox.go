package sandbox

import (
	"encoding/json"
	"slices"
	"time"
)

// Outbox kinds: what the app asked WeCom / WeChat to deliver or change.
const (
	OutboxWelcome     = "welcome_msg"
	OutboxAppMessage  = "app_message"
	OutboxMarkTag     = "mark_tag"
	OutboxRemark      = "remark"
	OutboxTemplate    = "template_message"
	OutboxChatMessage = "chat_message" // ww.sendChatMessage from the sidebar shim
	OutboxSMS         = "sms"          // a verification code the app's sandbox SMS sender "sent"
)

// maxOutbox bounds the outbox; the oldest entries go first.
const maxOutbox = 10000

// OutboxEntry is one request the app made that would reach a person.
type OutboxEntry struct {
	ID      int64           `json:"id"`
	Kind    string          `json:"kind"`
	At      time.Time       `json:"at"`
	Keys    map[string]any  `json:"keys"`    // userid, external_userid, chat_id, touser...
	Payload json.RawMessage `json:"payload"` // the request body as sent
}

// addOutbox records an entry; callers hold s.mu.
func (s *Sandbox) addOutbox(kind string, keys map[string]any, payload []byte) *OutboxEntry {
	var id int64 = 1
	if n := len(s.w.Outbox); n > 0 {
		id = s.w.Outbox[n-1].ID + 1
	}
	if !json.Valid(payload) {
		payload, _ = json.Marshal(string(payload))
	}
	e := &OutboxEntry{ID: id, Kind: kind, At: s.now(), Keys: keys, Payload: slices.Clone(payload)}
	s.w.Outbox = append(s.w.Outbox, e)
	if len(s.w.Outbox) > maxOutbox {
		s.w.Outbox = slices.Clone(s.w.Outbox[len(s.w.Outbox)-maxOutbox:])
	}
	s.touch()
	return e
}

// RecordSMS puts a text message the app sent through its development SMS
// sender into the outbox, so a person trying a form in the demo can read the
// verification code in the sandbox console.
func (s *Sandbox) RecordSMS(phone, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	payload, _ := json.Marshal(map[string]string{"phone": phone, "text": text})
	s.addOutbox(OutboxSMS, map[string]any{"phone": phone}, payload)
}

// Outbox returns the recorded entries of kind ("" = all), oldest first.
func (s *Sandbox) Outbox(kind string) []OutboxEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []OutboxEntry
	for _, e := range s.w.Outbox {
		if kind == "" || e.Kind == kind {
			out = append(out, *e)
		}
	}
	return out
}

// ClearOutbox forgets every outbox entry.
func (s *Sandbox) ClearOutbox() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Outbox = nil
	s.touch()
}
