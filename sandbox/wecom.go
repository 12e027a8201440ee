package sandbox

import (
	"net/http"
	"strings"
)

// wecomHost is qyapi.weixin.qq.com: every path the app (through PowerWeChat) calls.
func (s *Sandbox) wecomHost() http.Handler {
	r := map[string]route{
		"/cgi-bin/gettoken":                                      {authNone, s.wecomGetToken},
		"/cgi-bin/getcallbackip":                                 {authWeCom, s.wecomCallbackIP},
		"/cgi-bin/get_jsapi_ticket":                              {authWeCom, s.wecomJSAPITicket},
		"/cgi-bin/ticket/get":                                    {authWeCom, s.wecomAgentTicket},
		"/cgi-bin/auth/getuserinfo":                              {authWeCom, s.wecomAuthUserInfo},
		"/cgi-bin/user/getuserinfo":                              {authWeCom, s.wecomLegacyUserInfo},
		"/cgi-bin/user/get":                                      {authWeCom, s.wecomUserGet},
		"/cgi-bin/user/list_id":                                  {authWeCom, s.wecomUserListID},
		"/cgi-bin/user/list":                                     {authWeCom, s.wecomUserList},
		"/cgi-bin/user/simplelist":                               {authWeCom, s.wecomUserSimpleList},
		"/cgi-bin/department/list":                               {authWeCom, s.wecomDepartmentList},
		"/cgi-bin/message/send":                                  {authWeCom, s.wecomMessageSend},
		"/cgi-bin/externalcontact/get_follow_user_list":          {authWeCom, s.ecFollowUserList},
		"/cgi-bin/externalcontact/list":                          {authWeCom, s.ecList},
		"/cgi-bin/externalcontact/get":                           {authWeCom, s.ecGet},
		"/cgi-bin/externalcontact/batch/get_by_user":             {authWeCom, s.ecBatchGetByUser},
		"/cgi-bin/externalcontact/remark":                        {authWeCom, s.ecRemark},
		"/cgi-bin/externalcontact/get_corp_tag_list":             {authWeCom, s.ecGetCorpTagList},
		"/cgi-bin/externalcontact/add_corp_tag":                  {authWeCom, s.ecAddCorpTag},
		"/cgi-bin/externalcontact/edit_corp_tag":                 {authWeCom, s.ecEditCorpTag},
		"/cgi-bin/externalcontact/del_corp_tag":                  {authWeCom, s.ecDelCorpTag},
		"/cgi-bin/externalcontact/mark_tag":                      {authWeCom, s.ecMarkTag},
		"/cgi-bin/externalcontact/add_contact_way":               {authWeCom, s.ecAddContactWay},
		"/cgi-bin/externalcontact/get_contact_way":               {authWeCom, s.ecGetContactWay},
		"/cgi-bin/externalcontact/update_contact_way":            {authWeCom, s.ecUpdateContactWay},
		"/cgi-bin/externalcontact/del_contact_way":               {authWeCom, s.ecDelContactWay},
		"/cgi-bin/externalcontact/list_contact_way":              {authWeCom, s.ecListContactWay},
		"/cgi-bin/externalcontact/send_welcome_msg":              {authWeCom, s.ecSendWelcomeMsg},
		"/cgi-bin/externalcontact/groupchat/list":                {authWeCom, s.ecGroupChatList},
		"/cgi-bin/externalcontact/add_msg_template":              {authWeCom, s.ecAddMsgTemplate},
		"/cgi-bin/externalcontact/get_groupmsg_list_v2":          {authWeCom, s.ecGroupMsgListV2},
		"/cgi-bin/externalcontact/get_groupmsg_task":             {authWeCom, s.ecGroupMsgTask},
		"/cgi-bin/externalcontact/get_groupmsg_send_result":      {authWeCom, s.ecGroupMsgSendResult},
		"/cgi-bin/externalcontact/groupchat/get":                 {authWeCom, s.ecGroupChatGet},
		"/cgi-bin/externalcontact/unionid_to_external_userid":    {authWeCom, s.idUnionToExternal},
		"/cgi-bin/idconvert/unionid_to_external_userid":          {authWeCom, s.idUnionToExternal},
		"/cgi-bin/idconvert/batch/external_userid_to_pending_id": {authWeCom, s.idExternalToPending},
	}
	return &apiHost{s: s, name: "wecom", routes: r}
}

// wecomGetToken: GET /cgi-bin/gettoken?corpid=&corpsecret= (extra params tolerated).
func (s *Sandbox) wecomGetToken(c *call) (any, *apiError) {
	corpID, secret := c.param("corpid"), c.param("corpsecret")
	switch {
	case corpID == "":
		return nil, apiErr(41002, "corpid missing")
	case corpID != s.opts.Corp.CorpID:
		return nil, apiErr(40013, "invalid corpid")
	case secret == "":
		return nil, apiErr(41004, "corpsecret missing")
	}
	owner := ""
	switch secret {
	case s.opts.Corp.AgentSecret:
		owner = ownerAgent
	case s.opts.Corp.ContactSecret:
		owner = ownerContact
	default:
		return nil, apiErr(40001, "invalid credential")
	}
	t := s.wecomToken(owner)
	s.touch()
	return struct {
		okBody
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}{ok(), t.Value, int(t.ExpiresAt.Sub(s.now()).Seconds())}, nil
}

func (s *Sandbox) wecomCallbackIP(*call) (any, *apiError) {
	return struct {
		okBody
		IPList []string `json:"ip_list"`
	}{ok(), []string{"127.0.0.1"}}, nil
}

type ticketBody struct {
	okBody
	Ticket    string `json:"ticket"`
	ExpiresIn int    `json:"expires_in"`
}

// wecomJSAPITicket: GET or POST (PowerWeChat) /cgi-bin/get_jsapi_ticket. The
// answer always says 7200: the SDK caches for expires_in-500 (powerwechat.md §2.3).
func (s *Sandbox) wecomJSAPITicket(*call) (any, *apiError) {
	t := s.jsTicket("jsapi")
	s.touch()
	return ticketBody{ok(), t.Value, 7200}, nil
}

// wecomAgentTicket: GET /cgi-bin/ticket/get?type=agent_config.
func (s *Sandbox) wecomAgentTicket(c *call) (any, *apiError) {
	if c.param("type") != "agent_config" {
		return nil, errBadParam("type")
	}
	t := s.jsTicket("agent_config")
	s.touch()
	return ticketBody{ok(), t.Value, 7200}, nil
}

// wecomAuthUserInfo: GET /cgi-bin/auth/getuserinfo?code= — member or not.
func (s *Sandbox) wecomAuthUserInfo(c *call) (any, *apiError) {
	cd, aerr := s.useCode(c.param("code"), "wecom_oauth", errInvalidCode())
	if aerr != nil {
		return nil, aerr
	}
	s.touch()
	if cd.Employee {
		return struct {
			okBody
			UserID string `json:"userid"`
		}{ok(), cd.Subject}, nil
	}
	p := s.w.personByID[cd.Subject]
	if p == nil {
		return nil, errInvalidCode()
	}
	ext := ""
	if len(s.w.followsOf[p.ExternalUserID]) > 0 {
		ext = p.ExternalUserID
	}
	return struct {
		okBody
		OpenID         string `json:"openid"`
		ExternalUserID string `json:"external_userid,omitempty"`
	}{ok(), p.CorpOpenID, ext}, nil
}

// wecomLegacyUserInfo: the PascalCase /cgi-bin/user/getuserinfo PowerSocialite uses.
func (s *Sandbox) wecomLegacyUserInfo(c *call) (any, *apiError) {
	cd, aerr := s.useCode(c.param("code"), "wecom_oauth", errInvalidCode())
	if aerr != nil {
		return nil, aerr
	}
	s.touch()
	if cd.Employee {
		return map[string]any{"errcode": 0, "errmsg": "ok", "UserId": cd.Subject, "DeviceId": ""}, nil
	}
	p := s.w.personByID[cd.Subject]
	if p == nil {
		return nil, errInvalidCode()
	}
	return map[string]any{"errcode": 0, "errmsg": "ok", "OpenId": p.CorpOpenID, "DeviceId": ""}, nil
}

// wecomMessageSend: POST /cgi-bin/message/send; recorded in the outbox.
func (s *Sandbox) wecomMessageSend(c *call) (any, *apiError) {
	var req struct {
		ToUser  string `json:"touser"`
		ToParty string `json:"toparty"`
		ToTag   string `json:"totag"`
		MsgType string `json:"msgtype"`
		AgentID int    `json:"agentid"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if req.AgentID != s.opts.Corp.AgentID {
		return nil, apiErr(40056, "invalid agentid")
	}
	if req.MsgType == "" {
		return nil, apiErr(41008, "missing msgtype")
	}
	valid, invalid := s.splitReceivers(req.ToUser)
	if len(valid) == 0 && req.ToParty == "" && req.ToTag == "" {
		return nil, apiErr(81013, "UserID, DepartmentID, TagID all invalid")
	}
	valid, unlicensed := s.splitLicensed(valid)
	s.w.MsgSeq++
	if len(valid) > 0 || req.ToParty != "" || req.ToTag != "" {
		s.addOutbox(OutboxAppMessage, map[string]any{"touser": strings.Join(valid, "|"), "msgtype": req.MsgType}, c.body)
	}
	return struct {
		okBody
		InvalidUser    string `json:"invaliduser"`
		InvalidParty   string `json:"invalidparty"`
		InvalidTag     string `json:"invalidtag"`
		UnlicensedUser string `json:"unlicenseduser,omitempty"`
		MsgID          string `json:"msgid"`
	}{ok(), strings.Join(invalid, "|"), "", "", strings.Join(unlicensed, "|"),
		deriveHex(s.w.Seed, "msgid", uint64(s.w.MsgSeq), 24)}, nil
}

// splitReceivers resolves "a|b|@all"; invalid userids come back lower-cased.
func (s *Sandbox) splitReceivers(to string) (valid, invalid []string) {
	if to == "" {
		return nil, nil
	}
	if to == "@all" {
		for _, e := range s.w.Employees {
			valid = append(valid, e.UserID)
		}
		return valid, nil
	}
	for _, u := range strings.Split(to, "|") {
		u = strings.TrimSpace(u)
		if e := s.w.employee(u); e != nil {
			valid = append(valid, e.UserID)
		} else if u != "" {
			invalid = append(invalid, strings.ToLower(u))
		}
	}
	return valid, invalid
}
