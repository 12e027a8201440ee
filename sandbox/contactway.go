package sandbox

import (
	"slices"
	"unicode/utf8"
)

// Limits of 「联系我」 (wechat-protocol.md §3.4.7).
const (
	maxWayUsers   = 100
	maxStateChars = 30
	maxWays       = 500000
)

type contactWayRequest struct {
	ConfigID      string   `json:"config_id"`
	Type          int      `json:"type"`
	Scene         int      `json:"scene"`
	Style         int      `json:"style"`
	Remark        string   `json:"remark"`
	SkipVerify    *bool    `json:"skip_verify"`
	State         string   `json:"state"`
	User          []string `json:"user"`
	Party         []int    `json:"party"`
	IsTemp        bool     `json:"is_temp"`
	ExpiresIn     int      `json:"expires_in"`
	ChatExpiresIn int      `json:"chat_expires_in"`
	UnionID       string   `json:"unionid"`
}

func (s *Sandbox) validateWay(req *contactWayRequest) *apiError {
	switch {
	case req.Type == 0:
		return apiErr(41037, "missing type")
	case req.Scene == 0:
		return apiErr(41038, "missing scene")
	case req.Type != 1 && req.Type != 2:
		return apiErr(41039, "invalid type")
	case req.Scene != 1 && req.Scene != 2:
		return apiErr(41040, "invalid scene")
	case utf8.RuneCountInString(req.State) > maxStateChars:
		return errBadParam("state longer than 30")
	case utf8.RuneCountInString(req.Remark) > 30:
		return errBadParam("remark longer than 30")
	case len(req.User)+len(req.Party) == 0:
		return apiErr(41042, "user and party empty")
	case len(req.User) > maxWayUsers:
		return apiErr(41041, "too many users")
	case req.Type == 1 && len(req.User) != 1:
		return apiErr(41042, "type 1 needs exactly one user")
	}
	for _, u := range req.User {
		if e := s.w.employee(u); e == nil {
			return apiErr(60111, "userid not found: "+u)
		} else if e.Status == 4 {
			return apiErr(41054, "user not activated")
		}
	}
	return nil
}

// ecAddContactWay: POST add_contact_way → {config_id, qr_code (scene 2)}.
func (s *Sandbox) ecAddContactWay(c *call) (any, *apiError) {
	var req contactWayRequest
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if aerr := s.validateWay(&req); aerr != nil {
		return nil, aerr
	}
	if len(s.w.ContactWays) >= maxWays {
		return nil, apiErr(41045, "contact way count exceeds the limit")
	}
	w := &ContactWay{ConfigID: s.w.newHex("config", 32), CreateTime: s.now().Unix()}
	applyWay(w, req)
	if w.Scene == 2 {
		w.QRCode = "https://wework.qpic.cn/wwpic/sandbox/" + w.ConfigID + "/0"
	}
	s.w.ContactWays = append(s.w.ContactWays, w)
	s.w.wayByID[w.ConfigID] = w
	s.touch()
	return struct {
		okBody
		ConfigID string `json:"config_id"`
		QRCode   string `json:"qr_code,omitempty"`
	}{ok(), w.ConfigID, w.QRCode}, nil
}

func applyWay(w *ContactWay, req contactWayRequest) {
	w.Type, w.Scene, w.Style, w.Remark, w.State = req.Type, req.Scene, req.Style, req.Remark, req.State
	w.SkipVerify = req.SkipVerify == nil || *req.SkipVerify
	w.User, w.Party = slices.Clone(req.User), slices.Clone(req.Party)
	w.IsTemp, w.ExpiresIn, w.ChatExpiresIn, w.UnionID = req.IsTemp, req.ExpiresIn, req.ChatExpiresIn, req.UnionID
}

func (s *Sandbox) wayFrom(c *call) (*ContactWay, *contactWayRequest, *apiError) {
	var req contactWayRequest
	if aerr := c.decode(&req); aerr != nil {
		return nil, nil, aerr
	}
	if req.ConfigID == "" {
		return nil, nil, apiErr(41043, "missing config_id")
	}
	w := s.w.wayByID[req.ConfigID]
	if w == nil {
		return nil, nil, apiErr(41044, "invalid config_id")
	}
	return w, &req, nil
}

// ecGetContactWay: POST get_contact_way {config_id}.
func (s *Sandbox) ecGetContactWay(c *call) (any, *apiError) {
	w, _, aerr := s.wayFrom(c)
	if aerr != nil {
		return nil, aerr
	}
	cp := *w
	cp.User, cp.Party = nonNil(w.User), slices.Clone(w.Party)
	if cp.Party == nil {
		cp.Party = []int{}
	}
	return struct {
		okBody
		ContactWay ContactWay `json:"contact_way"`
	}{ok(), cp}, nil
}

// ecUpdateContactWay: POST update_contact_way; absent fields keep their value.
func (s *Sandbox) ecUpdateContactWay(c *call) (any, *apiError) {
	w, req, aerr := s.wayFrom(c)
	if aerr != nil {
		return nil, aerr
	}
	next := contactWayRequest{Type: w.Type, Scene: w.Scene, Style: w.Style, Remark: w.Remark, State: w.State,
		User: w.User, Party: w.Party, SkipVerify: &w.SkipVerify, IsTemp: w.IsTemp}
	if req.Remark != "" {
		next.Remark = req.Remark
	}
	if req.State != "" {
		next.State = req.State
	}
	if req.User != nil {
		next.User = req.User
	}
	if req.Party != nil {
		next.Party = req.Party
	}
	if req.SkipVerify != nil {
		next.SkipVerify = req.SkipVerify
	}
	if aerr := s.validateWay(&next); aerr != nil {
		return nil, aerr
	}
	applyWay(w, next)
	s.touch()
	return ok(), nil
}

// ecDelContactWay: POST del_contact_way {config_id}.
func (s *Sandbox) ecDelContactWay(c *call) (any, *apiError) {
	w, _, aerr := s.wayFrom(c)
	if aerr != nil {
		return nil, aerr
	}
	s.w.ContactWays = without(s.w.ContactWays, w)
	delete(s.w.wayByID, w.ConfigID)
	s.touch()
	return ok(), nil
}

// ecListContactWay: POST list_contact_way {start_time, end_time, cursor, limit ≤1000}.
func (s *Sandbox) ecListContactWay(c *call) (any, *apiError) {
	var req struct {
		StartTime int64  `json:"start_time"`
		EndTime   int64  `json:"end_time"`
		Cursor    string `json:"cursor"`
		Limit     int    `json:"limit"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if req.Limit < 0 || req.Limit > 1000 {
		return nil, errBadParam("limit")
	}
	if req.Limit == 0 {
		req.Limit = 100
	}
	type item struct {
		ConfigID string `json:"config_id"`
	}
	var all []item
	for _, w := range s.w.ContactWays {
		if (req.StartTime == 0 || w.CreateTime >= req.StartTime) && (req.EndTime == 0 || w.CreateTime <= req.EndTime) {
			all = append(all, item{w.ConfigID})
		}
	}
	offset, aerr := s.decodeCursor(req.Cursor, "ways", "")
	if aerr != nil {
		return nil, aerr
	}
	from, to, next := s.page("ways", "", offset, req.Limit, len(all))
	return struct {
		okBody
		ContactWay []item `json:"contact_way"`
		NextCursor string `json:"next_cursor"`
	}{ok(), append([]item{}, all[from:to]...), next}, nil
}
