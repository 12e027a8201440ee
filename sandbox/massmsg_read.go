package sandbox

import "encoding/json"

// The read side of 企业群发: get_groupmsg_list_v2, get_groupmsg_task,
// get_groupmsg_send_result (wechat-protocol.md §3.4.10).

// maxGroupMsgRange is the longest start_time–end_time span WeCom accepts.
const maxGroupMsgRange = 31 * 24 * 3600

func massLimit(limit, def, max int) int {
	if limit <= 0 || limit > max {
		return def
	}
	return limit
}

// ecGroupMsgListV2: POST get_groupmsg_list_v2 {chat_type, start_time,
// end_time, creator, filter_type, limit ≤100, cursor}.
func (s *Sandbox) ecGroupMsgListV2(c *call) (any, *apiError) {
	var req struct {
		ChatType   string  `json:"chat_type"`
		StartTime  int64   `json:"start_time"`
		EndTime    int64   `json:"end_time"`
		Creator    *string `json:"creator"`
		FilterType *int    `json:"filter_type"`
		Limit      int     `json:"limit"`
		Cursor     string  `json:"cursor"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	switch {
	case req.ChatType != "single" && req.ChatType != "group":
		return nil, errBadParam("chat_type")
	case req.StartTime <= 0 || req.EndTime <= 0 || req.EndTime < req.StartTime:
		return nil, errBadParam("start_time/end_time")
	case req.EndTime-req.StartTime > maxGroupMsgRange:
		return nil, errBadParam("start_time and end_time more than one month apart")
	}
	var list []map[string]any
	for _, m := range s.massState().Messages {
		if req.ChatType != "single" || m.CreateTime < req.StartTime || m.CreateTime > req.EndTime ||
			(req.Creator != nil && *req.Creator != "" && *req.Creator != m.Creator) ||
			(req.FilterType != nil && *req.FilterType != 2 && *req.FilterType != m.CreateType) {
			continue
		}
		list = append(list, map[string]any{"msgid": m.MsgID, "creator": m.Creator, "create_time": m.CreateTime,
			"create_type": m.CreateType, "text": map[string]string{"content": m.Text}, "attachments": nonNilRaw(m.Attachments)})
	}
	offset, aerr := s.decodeCursor(req.Cursor, "groupmsg", req.ChatType)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next := s.page("groupmsg", req.ChatType, offset, massLimit(req.Limit, 50, 100), len(list))
	return struct {
		okBody
		NextCursor   string           `json:"next_cursor"`
		GroupMsgList []map[string]any `json:"group_msg_list"`
	}{ok(), next, append([]map[string]any{}, list[from:to]...)}, nil
}

func nonNilRaw(v []json.RawMessage) []json.RawMessage {
	if v == nil {
		return []json.RawMessage{}
	}
	return v
}

// msgFrom finds the message a read names: 41046 without msgid, 41047 for
// an unknown one.
func (s *Sandbox) msgFrom(id string) (*MassMsg, *apiError) {
	if id == "" {
		return nil, apiErr(41046, "missing msgid")
	}
	m := s.massMsg(id)
	if m == nil {
		return nil, apiErr(41047, "invalid msgid")
	}
	return m, nil
}

// ecGroupMsgTask: POST get_groupmsg_task {msgid, limit ≤1000, cursor}.
func (s *Sandbox) ecGroupMsgTask(c *call) (any, *apiError) {
	var req struct {
		MsgID  string `json:"msgid"`
		Limit  int    `json:"limit"`
		Cursor string `json:"cursor"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	m, aerr := s.msgFrom(req.MsgID)
	if aerr != nil {
		return nil, aerr.with("task_list", []any{})
	}
	offset, aerr := s.decodeCursor(req.Cursor, "groupmsgtask", m.MsgID)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next := s.page("groupmsgtask", m.MsgID, offset, massLimit(req.Limit, 500, 1000), len(m.Tasks))
	type task struct {
		UserID   string `json:"userid"`
		Status   int    `json:"status"`
		SendTime int64  `json:"send_time,omitempty"`
	}
	out := []task{}
	for _, t := range m.Tasks[from:to] {
		out = append(out, task{t.UserID, t.Status, t.SendTime})
	}
	return struct {
		okBody
		NextCursor string `json:"next_cursor"`
		TaskList   []task `json:"task_list"`
	}{ok(), next, out}, nil
}

// ecGroupMsgSendResult: POST get_groupmsg_send_result {msgid, userid,
// limit ≤1000, cursor}: the member's customers and their status.
func (s *Sandbox) ecGroupMsgSendResult(c *call) (any, *apiError) {
	var req struct {
		MsgID  string `json:"msgid"`
		UserID string `json:"userid"`
		Limit  int    `json:"limit"`
		Cursor string `json:"cursor"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	m, aerr := s.msgFrom(req.MsgID)
	if aerr != nil {
		return nil, aerr.with("send_list", []any{})
	}
	if req.UserID == "" {
		return nil, errBadParam("userid")
	}
	t := m.task(req.UserID)
	if t == nil {
		return nil, apiErr(60111, "userid has no task in this msgid").with("send_list", []any{})
	}
	offset, aerr := s.decodeCursor(req.Cursor, "groupmsgsend", m.MsgID+"|"+t.UserID)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next := s.page("groupmsgsend", m.MsgID+"|"+t.UserID, offset, massLimit(req.Limit, 500, 1000), len(t.Customers))
	type result struct {
		ExternalUserID string `json:"external_userid"`
		ChatID         string `json:"chat_id"`
		UserID         string `json:"userid"`
		Status         int    `json:"status"`
		SendTime       int64  `json:"send_time,omitempty"`
	}
	out := []result{}
	for _, cu := range t.Customers[from:to] {
		out = append(out, result{cu.ExternalUserID, "", t.UserID, cu.Status, cu.SendTime})
	}
	return struct {
		okBody
		NextCursor string   `json:"next_cursor"`
		SendList   []result `json:"send_list"`
	}{ok(), next, out}, nil
}
