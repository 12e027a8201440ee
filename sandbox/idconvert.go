package sandbox

// pendingID is stable per person: "p" + 27 chars, like the real shape.
func (s *Sandbox) pendingID(p *Person) string {
	return derive(s.w.Seed, "pending|"+p.ID, 0, "p", 28)
}

// idUnionToExternal: POST idconvert/unionid_to_external_userid {unionid, openid, subject_type}
// → external_userid when the person is a customer, else pending_id. 610014 for an unknown unionid.
func (s *Sandbox) idUnionToExternal(c *call) (any, *apiError) {
	var req struct {
		UnionID     string `json:"unionid"`
		OpenID      string `json:"openid"`
		SubjectType int    `json:"subject_type"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	p := s.w.byUnion[req.UnionID]
	if req.UnionID == "" || p == nil {
		return nil, apiErr(610014, "invalid unionid")
	}
	if req.OpenID != "" && req.OpenID != p.OAOpenID && req.OpenID != p.MPOpenID {
		return nil, apiErr(40003, "invalid openid")
	}
	body := map[string]any{"errcode": 0, "errmsg": "ok"}
	if len(s.w.followsOf[p.ExternalUserID]) > 0 {
		body["external_userid"] = p.ExternalUserID
	} else {
		body["pending_id"] = s.pendingID(p)
	}
	return body, nil
}

// idExternalToPending: POST idconvert/batch/external_userid_to_pending_id {chat_id?, external_userid ≤100}.
func (s *Sandbox) idExternalToPending(c *call) (any, *apiError) {
	var req struct {
		ChatID         string   `json:"chat_id"`
		ExternalUserID []string `json:"external_userid"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if len(req.ExternalUserID) == 0 || len(req.ExternalUserID) > 100 {
		return nil, errBadParam("external_userid must hold 1..100 ids")
	}
	type row struct {
		ExternalUserID string `json:"external_userid"`
		PendingID      string `json:"pending_id"`
	}
	out := []row{}
	for _, id := range req.ExternalUserID {
		if p := s.w.byExt[id]; p != nil {
			out = append(out, row{id, s.pendingID(p)})
		}
	}
	return struct {
		okBody
		Result []row `json:"result"`
	}{ok(), out}, nil
}
