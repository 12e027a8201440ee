package sandbox

import (
	"encoding/json"
)

// mintWelcome issues the WelcomeCode of an add event: single use, WelcomeCodeTTL.
func (s *Sandbox) mintWelcome(userID, externalUserID string) string {
	now := s.now()
	for k, w := range s.w.Welcome {
		if now.After(w.ExpiresAt.Add(s.opts.WelcomeCodeTTL * 10)) {
			delete(s.w.Welcome, k)
		}
	}
	w := &welcome{Code: s.w.newID("welcome", "", 43), UserID: userID, ExternalUserID: externalUserID,
		ExpiresAt: now.Add(s.opts.WelcomeCodeTTL)}
	s.w.Welcome[w.Code] = w
	return w.Code
}

// ecSendWelcomeMsg: POST send_welcome_msg. Missing code 41049, unknown or
// older than 20 s 41050, already used 41051; text ≤4000 bytes, ≤9 attachments.
func (s *Sandbox) ecSendWelcomeMsg(c *call) (any, *apiError) {
	var req struct {
		WelcomeCode string `json:"welcome_code"`
		Text        *struct {
			Content string `json:"content"`
		} `json:"text"`
		Attachments []json.RawMessage `json:"attachments"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if req.WelcomeCode == "" {
		return nil, apiErr(41049, "missing welcome_code")
	}
	text := ""
	if req.Text != nil {
		text = req.Text.Content
	}
	switch {
	case text == "" && len(req.Attachments) == 0:
		return nil, apiErr(41048, "text and attachments both empty")
	case len(text) > 4000:
		return nil, errBadParam("text longer than 4000 bytes")
	case len(req.Attachments) > 9:
		return nil, errBadParam("more than 9 attachments")
	}
	w := s.w.Welcome[req.WelcomeCode]
	switch {
	case w == nil || !s.now().Before(w.ExpiresAt):
		return nil, apiErr(41050, "invalid welcome_code or expired")
	case w.Used:
		return nil, apiErr(41051, "externaluser has started chatting")
	}
	w.Used = true
	s.addOutbox(OutboxWelcome, map[string]any{"userid": w.UserID, "external_userid": w.ExternalUserID}, c.body)
	s.touch()
	return ok(), nil
}
