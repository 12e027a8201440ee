package sandbox

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// contactBody is external_contact in get / batch/get_by_user (type 1 WeChat user).
type contactBody struct {
	ExternalUserID string `json:"external_userid"`
	Name           string `json:"name"`
	Avatar         string `json:"avatar"`
	Type           int    `json:"type"`
	Gender         int    `json:"gender"`
	UnionID        string `json:"unionid,omitempty"`
}

type tagRef struct {
	GroupName string `json:"group_name"`
	TagName   string `json:"tag_name"`
	TagID     string `json:"tag_id,omitempty"`
	Type      int    `json:"type"`
}

// followUserBody is follow_user[] of externalcontact/get.
type followUserBody struct {
	UserID         string   `json:"userid"`
	Remark         string   `json:"remark"`
	Description    string   `json:"description"`
	CreateTime     int64    `json:"createtime"`
	Tags           []tagRef `json:"tags"`
	RemarkCorpName string   `json:"remark_corp_name,omitempty"`
	RemarkMobiles  []string `json:"remark_mobiles"`
	OperUserID     string   `json:"oper_userid"`
	AddWay         int      `json:"add_way"`
	State          string   `json:"state,omitempty"`
}

// followInfoBody is follow_info of batch/get_by_user (tag ids only).
type followInfoBody struct {
	UserID         string   `json:"userid"`
	Remark         string   `json:"remark"`
	Description    string   `json:"description"`
	CreateTime     int64    `json:"createtime"`
	TagID          []string `json:"tag_id"`
	RemarkCorpName string   `json:"remark_corp_name,omitempty"`
	RemarkMobiles  []string `json:"remark_mobiles"`
	OperUserID     string   `json:"oper_userid"`
	AddWay         int      `json:"add_way"`
	State          string   `json:"state,omitempty"`
}

func contactOf(p *Person) contactBody {
	return contactBody{ExternalUserID: p.ExternalUserID, Name: p.Nickname, Avatar: p.Avatar, Type: 1,
		Gender: p.Gender, UnionID: p.UnionID}
}

func (s *Sandbox) followUser(f *Follow) followUserBody {
	tags := []tagRef{}
	for _, id := range f.TagIDs {
		if t := s.w.tagByID[id]; t != nil {
			tags = append(tags, tagRef{GroupName: t.group.GroupName, TagName: t.Name, TagID: t.ID, Type: 1})
		}
	}
	return followUserBody{UserID: f.UserID, Remark: f.Remark, Description: f.Description, CreateTime: f.CreateTime,
		Tags: tags, RemarkCorpName: f.RemarkCorpName, RemarkMobiles: nonNil(f.RemarkMobiles),
		OperUserID: f.OperUserID, AddWay: f.AddWay, State: f.State}
}

func followInfo(f *Follow) followInfoBody {
	return followInfoBody{UserID: f.UserID, Remark: f.Remark, Description: f.Description, CreateTime: f.CreateTime,
		TagID: nonNil(f.TagIDs), RemarkCorpName: f.RemarkCorpName, RemarkMobiles: nonNil(f.RemarkMobiles),
		OperUserID: f.OperUserID, AddWay: f.AddWay, State: f.State}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// ecFollowUserList: GET /cgi-bin/externalcontact/get_follow_user_list.
func (s *Sandbox) ecFollowUserList(*call) (any, *apiError) {
	users := []string{}
	for _, e := range s.w.Employees {
		if e.CustomerContact {
			users = append(users, e.UserID)
		}
	}
	return struct {
		okBody
		FollowUser []string `json:"follow_user"`
	}{ok(), users}, nil
}

// ecList: GET /cgi-bin/externalcontact/list?userid=; 84061 when the member has no customer.
func (s *Sandbox) ecList(c *call) (any, *apiError) {
	e := s.w.employee(c.param("userid"))
	if e == nil {
		return nil, apiErr(60111, "userid not found").with("external_userid", []string{})
	}
	if !s.licensed(e.UserID, true) {
		return nil, errNoInterop().with("external_userid", []string{})
	}
	follows := s.w.followsBy[strings.ToLower(e.UserID)]
	if len(follows) == 0 {
		return nil, apiErr(84061, "not external contact").with("external_userid", []string{})
	}
	ids := make([]string, len(follows))
	for i, f := range follows {
		ids[i] = f.ExternalUserID
	}
	return struct {
		okBody
		ExternalUserID []string `json:"external_userid"`
	}{ok(), ids}, nil
}

// followPageSize is where externalcontact/get starts paginating follow_user.
const followPageSize = 500

// ecGet: GET /cgi-bin/externalcontact/get?external_userid=&cursor=.
func (s *Sandbox) ecGet(c *call) (any, *apiError) {
	id := c.param("external_userid")
	empty := map[string]any{"external_contact": map[string]any{}, "follow_user": []any{}}
	p := s.w.byExt[id]
	if id == "" || p == nil {
		return nil, &apiError{Code: 40096, Msg: "invalid external userid", Extra: empty}
	}
	follows := s.w.followsOf[id]
	if len(follows) == 0 {
		return nil, &apiError{Code: 84061, Msg: "not external contact", Extra: empty}
	}
	if follows = s.licensedFollows(follows); len(follows) == 0 {
		return nil, &apiError{Code: 701008, Msg: errNoInterop().Msg, Extra: empty}
	}
	offset, aerr := s.decodeCursor(c.param("cursor"), "get", id)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next := s.page("get", id, offset, followPageSize, len(follows))
	list := make([]followUserBody, 0, to-from)
	for _, f := range follows[from:to] {
		list = append(list, s.followUser(f))
	}
	return struct {
		okBody
		ExternalContact contactBody      `json:"external_contact"`
		FollowUser      []followUserBody `json:"follow_user"`
		NextCursor      string           `json:"next_cursor,omitempty"`
	}{ok(), contactOf(p), list, next}, nil
}

type batchRow struct {
	ExternalContact contactBody    `json:"external_contact"`
	FollowInfo      followInfoBody `json:"follow_info"`
}

// ecBatchGetByUser: POST /cgi-bin/externalcontact/batch/get_by_user
// {userid_list ≤100, cursor, limit default 50, >100 clamped}; one row per relation.
func (s *Sandbox) ecBatchGetByUser(c *call) (any, *apiError) {
	var req struct {
		UserIDList []string `json:"userid_list"`
		UserID     string   `json:"userid"` // the older single-user form
		Cursor     string   `json:"cursor"`
		Limit      int      `json:"limit"`
	}
	empty := func(e *apiError) *apiError { return e.with("external_contact_list", []any{}) }
	if aerr := c.decode(&req); aerr != nil {
		return nil, empty(aerr)
	}
	if req.UserID != "" {
		req.UserIDList = append(req.UserIDList, req.UserID)
	}
	switch {
	case len(req.UserIDList) == 0:
		return nil, empty(apiErr(41009, "missing userid"))
	case len(req.UserIDList) > 100:
		return nil, empty(errBadParam("userid_list exceeds 100"))
	case req.Limit < 0:
		return nil, empty(errBadParam("limit"))
	}
	limit := req.Limit
	if limit == 0 {
		limit = 50
	}
	limit = min(limit, 100)
	var lists [][]*Follow
	total, licensed := 0, 0
	for _, u := range req.UserIDList {
		if s.w.employee(u) == nil {
			return nil, empty(apiErr(60111, "userid not found: "+u))
		}
		if !s.licensed(u, true) {
			continue // unlicensed members are skipped
		}
		licensed++
		l := s.w.followsBy[strings.ToLower(u)]
		lists = append(lists, l)
		total += len(l)
	}
	if licensed == 0 {
		return nil, empty(errNoInterop())
	}
	scope := strings.ToLower(strings.Join(req.UserIDList, ","))
	offset, aerr := s.decodeCursor(req.Cursor, "batch", scope)
	if aerr != nil {
		return nil, empty(aerr)
	}
	from, to, next := s.page("batch", scope, offset, limit, total)
	return struct {
		okBody
		ExternalContactList []batchRow `json:"external_contact_list"`
		NextCursor          string     `json:"next_cursor"`
	}{ok(), s.batchRows(lists, from, to), next}, nil
}

// batchRows returns rows [from, to) of the concatenation of lists.
func (s *Sandbox) batchRows(lists [][]*Follow, from, to int) []batchRow {
	rows := make([]batchRow, 0, to-from)
	pos := 0
	for _, l := range lists {
		if pos+len(l) > from {
			for _, f := range l[max(from-pos, 0):] {
				if len(rows) == to-from {
					return rows
				}
				rows = append(rows, batchRow{contactOf(s.w.byExt[f.ExternalUserID]), followInfo(f)})
			}
		}
		pos += len(l)
	}
	return rows
}

// ecRemark: POST /cgi-bin/externalcontact/remark. API changes fire no callback.
func (s *Sandbox) ecRemark(c *call) (any, *apiError) {
	var req struct {
		UserID         string    `json:"userid"`
		ExternalUserID string    `json:"external_userid"`
		Remark         *string   `json:"remark"`
		Description    *string   `json:"description"`
		RemarkCompany  *string   `json:"remark_company"`
		RemarkMobiles  *[]string `json:"remark_mobiles"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	f := s.w.follow(req.UserID, req.ExternalUserID)
	if f == nil {
		return nil, apiErr(84061, "not external contact")
	}
	if aerr := checkRemarkLimits(req.Remark, req.Description, req.RemarkCompany); aerr != nil {
		return nil, aerr
	}
	if req.Remark != nil {
		f.Remark = *req.Remark
	}
	if req.Description != nil {
		f.Description = *req.Description
	}
	if req.RemarkCompany != nil {
		f.RemarkCorpName = *req.RemarkCompany
	}
	if req.RemarkMobiles != nil {
		f.RemarkMobiles = slices.DeleteFunc(slices.Clone(*req.RemarkMobiles), func(m string) bool { return m == "" })
	}
	s.addOutbox(OutboxRemark, map[string]any{"userid": f.UserID, "external_userid": f.ExternalUserID}, c.body)
	s.touch()
	return ok(), nil
}

// checkRemarkLimits: remark ≤20 chars, description ≤150, remark_company ≤20.
func checkRemarkLimits(remark, desc, company *string) *apiError {
	tooLong := func(p *string, n int) bool { return p != nil && utf8.RuneCountInString(*p) > n }
	switch {
	case tooLong(remark, 20):
		return errBadParam("remark longer than 20")
	case tooLong(desc, 150):
		return errBadParam("description longer than 150")
	case tooLong(company, 20):
		return errBadParam("remark_company longer than 20")
	}
	return nil
}
