package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// 企业群发 (wechat-protocol.md §3.4.10): add_msg_template creates one task
// per sender; the member confirms it in WeCom (here: the control API or the
// console), which sends it to the customers; get_groupmsg_* read the result.

// MassWindow is how long a customer who received a corp mass message cannot
// receive another. The protocol notes say ≤1 per day today; WeCom's older
// and stricter rule was 1 per week, and the app plans with the week, so the
// sandbox enforces the week: what passes here passes under either rule.
const MassWindow = 7 * 24 * time.Hour

// Limits of add_msg_template.
const (
	maxMassCustomers   = 10000
	maxMassTextBytes   = 4000
	maxMassAttachments = 9
)

// massMsgs is the sandbox state of mass messages (world.MassMsgs).
type massMsgs struct {
	Messages []*MassMsg `json:"messages"`
	// Received holds, per external_userid, when corp mass messages reached
	// the customer (unix seconds): the per-customer limit reads it.
	Received map[string][]int64 `json:"received"`
}

// MassMsg is one created mass message.
type MassMsg struct {
	MsgID       string            `json:"msgid"`
	Creator     string            `json:"creator"`
	CreateTime  int64             `json:"create_time"`
	CreateType  int               `json:"create_type"` // 0: by the corp (API)
	Text        string            `json:"text"`
	Attachments []json.RawMessage `json:"attachments"`
	Tasks       []*MassTask       `json:"tasks"`
}

// MassTask is one member's share of a mass message: status 0 未发送, 1 已发送.
type MassTask struct {
	UserID    string          `json:"userid"`
	Status    int             `json:"status"`
	SendTime  int64           `json:"send_time,omitempty"`
	Customers []*MassCustomer `json:"customers"`
}

// MassCustomer is one customer's result: 0 未发送, 1 已发送, 2 因客户不是好友导致发送失败,
// 3 因客户已经收到其他群发消息导致发送失败.
type MassCustomer struct {
	ExternalUserID string `json:"external_userid"`
	Status         int    `json:"status"`
	SendTime       int64  `json:"send_time,omitempty"`
}

func (s *Sandbox) massState() *massMsgs {
	if s.w.MassMsgs == nil {
		s.w.MassMsgs = &massMsgs{}
	}
	if s.w.MassMsgs.Received == nil {
		s.w.MassMsgs.Received = map[string][]int64{}
	}
	return s.w.MassMsgs
}

func (s *Sandbox) massMsg(id string) *MassMsg {
	for _, m := range s.massState().Messages {
		if m.MsgID == id {
			return m
		}
	}
	return nil
}

type addMsgTemplateRequest struct {
	ChatType       string   `json:"chat_type"`
	ExternalUserID []string `json:"external_userid"`
	Sender         string   `json:"sender"`
	Text           *struct {
		Content string `json:"content"`
	} `json:"text"`
	Attachments []json.RawMessage `json:"attachments"`
}

type massAttachment struct {
	MsgType     string                       `json:"msgtype"`
	Link        *struct{ Title, URL string } `json:"link"`
	MiniProgram *struct {
		Title      string `json:"title"`
		PicMediaID string `json:"pic_media_id"`
		AppID      string `json:"appid"`
		Page       string `json:"page"`
	} `json:"miniprogram"`
}

// validateMass checks the message itself: content, attachments, sizes.
func (s *Sandbox) validateMass(req *addMsgTemplateRequest) *apiError {
	text := ""
	if req.Text != nil {
		text = req.Text.Content
	}
	switch {
	case req.ChatType != "" && req.ChatType != "single":
		return errBadParam("chat_type: the sandbox serves single (customers) only")
	case text == "" && len(req.Attachments) == 0:
		return errBadParam("text and attachments are both empty")
	case len(text) > maxMassTextBytes:
		return errBadParam("text.content longer than 4000 bytes")
	case len(req.Attachments) > maxMassAttachments:
		return errBadParam("more than 9 attachments")
	case len(req.ExternalUserID) > maxMassCustomers:
		return errBadParam("more than 10000 external_userid")
	case req.Sender == "" && len(req.ExternalUserID) == 0:
		return apiErr(41048, "no customer to send to")
	}
	for _, raw := range req.Attachments {
		if aerr := s.validateAttachment(raw); aerr != nil {
			return aerr
		}
	}
	return nil
}

func (s *Sandbox) validateAttachment(raw json.RawMessage) *apiError {
	var a massAttachment
	if json.Unmarshal(raw, &a) != nil {
		return errBadJSON()
	}
	switch a.MsgType {
	case "link":
		if a.Link == nil || a.Link.Title == "" || a.Link.URL == "" {
			return errBadParam("link needs title and url")
		}
	case "miniprogram":
		p := a.MiniProgram
		switch {
		case p == nil || p.Title == "" || p.PicMediaID == "" || p.Page == "":
			return errBadParam("miniprogram needs title, pic_media_id and page")
		case p.AppID != s.opts.MiniProgram.AppID:
			return apiErr(90207, "invalid miniprogram appid")
		case len(p.Title) > 64:
			return errBadParam("miniprogram title longer than 64 bytes")
		}
	case "image", "video", "file":
	default:
		return apiErr(40008, "invalid msgtype")
	}
	return nil
}

// ecAddMsgTemplate: POST add_msg_template → {fail_list, msgid}. A customer
// who is not a customer of the sender (or unknown) is in fail_list; none
// left is 41048.
func (s *Sandbox) ecAddMsgTemplate(c *call) (any, *apiError) {
	var req addMsgTemplateRequest
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if aerr := s.validateMass(&req); aerr != nil {
		return nil, aerr
	}
	if req.Sender != "" && s.w.employee(req.Sender) == nil {
		return nil, apiErr(60111, "userid not found: "+req.Sender)
	}
	tasks, fail := s.massTasks(req)
	if len(tasks) == 0 {
		return nil, apiErr(41048, "no customer to send to").with("fail_list", nonNil(fail))
	}
	m := &MassMsg{MsgID: "msg" + s.w.newHex("massmsg", 29), Creator: req.Sender, CreateTime: s.now().Unix(),
		Attachments: req.Attachments, Tasks: tasks}
	if req.Text != nil {
		m.Text = req.Text.Content
	}
	st := s.massState()
	st.Messages = append(st.Messages, m)
	s.touch()
	return struct {
		okBody
		FailList []string `json:"fail_list"`
		MsgID    string   `json:"msgid"`
	}{ok(), nonNil(fail), m.MsgID}, nil
}

// massTasks splits the customers over their senders: the given sender, or
// without one every member following the customer.
func (s *Sandbox) massTasks(req addMsgTemplateRequest) ([]*MassTask, []string) {
	byUser := map[string]*MassTask{}
	var order []string
	var fail []string
	for _, ext := range slices.Compact(slices.Sorted(slices.Values(req.ExternalUserID))) {
		var senders []string
		for _, f := range s.w.followsOf[ext] {
			if !f.CustomerDeleted && (req.Sender == "" || strings.EqualFold(f.UserID, req.Sender)) {
				senders = append(senders, f.UserID)
			}
		}
		if len(senders) == 0 {
			fail = append(fail, ext)
			continue
		}
		for _, u := range senders {
			t := byUser[u]
			if t == nil {
				t = &MassTask{UserID: u}
				byUser[u] = t
				order = append(order, u)
			}
			t.Customers = append(t.Customers, &MassCustomer{ExternalUserID: ext})
		}
	}
	out := make([]*MassTask, 0, len(order))
	for _, u := range order {
		out = append(out, byUser[u])
	}
	return out, fail
}

// ConfirmMassMessage is the member pressing 发送 in WeCom: every customer of
// the task gets the message, unless the relation is gone (2) or the customer
// already received a corp mass message within MassWindow (3).
func (s *Sandbox) ConfirmMassMessage(msgID, userID string) (*MassTask, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.massMsg(msgID)
	if m == nil {
		return nil, notFound("no mass message %q", msgID)
	}
	t := m.task(userID)
	if t == nil {
		return nil, notFound("%s has no task in %s", userID, msgID)
	}
	if t.Status != 0 {
		return nil, conflict("%s already sent %s", userID, msgID)
	}
	now := s.now().Unix()
	st := s.massState()
	for _, cu := range t.Customers {
		switch f := s.w.follow(t.UserID, cu.ExternalUserID); {
		case f == nil || f.CustomerDeleted:
			cu.Status = 2
		case receivedWithin(st.Received[cu.ExternalUserID], now, int64(MassWindow/time.Second)):
			cu.Status = 3
		default:
			cu.Status, cu.SendTime = 1, now
			st.Received[cu.ExternalUserID] = append(st.Received[cu.ExternalUserID], now)
		}
	}
	t.Status, t.SendTime = 1, now
	s.touch()
	cp := *t
	return &cp, nil
}

func receivedWithin(times []int64, now, window int64) bool {
	for _, at := range times {
		if now-at < window {
			return true
		}
	}
	return false
}

func (m *MassMsg) task(userID string) *MassTask {
	for _, t := range m.Tasks {
		if strings.EqualFold(t.UserID, userID) {
			return t
		}
	}
	return nil
}

// MassMessages lists the created mass messages (control API and console).
func (s *Sandbox) MassMessages() []MassMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []MassMsg{}
	for _, m := range s.massState().Messages {
		cp := *m
		cp.Tasks = nil
		for _, t := range m.Tasks {
			tc := *t
			tc.Customers = nil
			for _, cu := range t.Customers {
				cc := *cu
				tc.Customers = append(tc.Customers, &cc)
			}
			cp.Tasks = append(cp.Tasks, &tc)
		}
		out = append(out, cp)
	}
	return out
}

// routeMassMsg adds the control API of mass messages.
func (s *Sandbox) routeMassMsg(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/mass-messages", jsonAPI(func(*http.Request) (any, error) { return s.MassMessages(), nil }))
	mux.HandleFunc("POST /api/mass-messages/confirm", jsonBody(func(in struct {
		MsgID  string `json:"msgid"`
		UserID string `json:"userid"`
	}) (any, error) {
		return s.ConfirmMassMessage(in.MsgID, in.UserID)
	}))
}
