package sandbox

// Web OAuth of the Official Account and the mini-program login (wechat-protocol.md §4.2, §4.6).

const (
	scopeBase     = "snsapi_base"
	scopeUserInfo = "snsapi_userinfo"
)

// snsAccessToken: GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code.
// unionid only with snsapi_userinfo; a used code answers 40163.
func (s *Sandbox) snsAccessToken(c *call) (any, *apiError) {
	if c.param("appid") != s.opts.Official.AppID {
		return nil, apiErr(40013, "invalid appid")
	}
	if c.param("secret") != s.opts.Official.Secret {
		return nil, apiErr(40125, "invalid appsecret")
	}
	if c.param("grant_type") != "authorization_code" {
		return nil, apiErr(40002, "invalid grant_type")
	}
	cd, aerr := s.useCode(c.param("code"), "oa_oauth", apiErr(40163, "code been used"))
	if aerr != nil {
		return nil, aerr
	}
	p := s.w.personByID[cd.Subject]
	if p == nil {
		return nil, errInvalidCode()
	}
	return s.snsTokenBody(p, cd.Scope), nil
}

func (s *Sandbox) snsTokenBody(p *Person, scope string) map[string]any {
	t := s.mintToken(ownerSNS, s.opts.TokenTTL)
	t.PersonID, t.Scope = p.ID, scope
	r := s.mintToken(ownerSNS+"_refresh", 30*24*s.opts.TokenTTL/2)
	r.PersonID, r.Scope = p.ID, scope
	s.touch()
	body := map[string]any{"access_token": t.Value, "expires_in": int(s.opts.TokenTTL.Seconds()),
		"refresh_token": r.Value, "openid": p.OAOpenID, "scope": scope}
	if scope == scopeUserInfo {
		body["unionid"] = p.UnionID
	}
	return body
}

// snsRefreshToken: GET /sns/oauth2/refresh_token?appid&grant_type=refresh_token&refresh_token.
func (s *Sandbox) snsRefreshToken(c *call) (any, *apiError) {
	if c.param("appid") != s.opts.Official.AppID {
		return nil, apiErr(40013, "invalid appid")
	}
	r, aerr := s.checkToken(c.param("refresh_token"), ownerSNS+"_refresh")
	if aerr != nil {
		return nil, apiErr(40030, "invalid refresh_token")
	}
	p := s.w.personByID[r.PersonID]
	if p == nil {
		return nil, apiErr(40030, "invalid refresh_token")
	}
	return s.snsTokenBody(p, r.Scope), nil
}

// snsAuth: GET /sns/auth?access_token&openid.
func (s *Sandbox) snsAuth(c *call) (any, *apiError) {
	if p := s.w.personByID[c.tok.PersonID]; p == nil || p.OAOpenID != c.param("openid") {
		return nil, apiErr(40003, "invalid openid")
	}
	return ok(), nil
}

// snsUserInfo: GET /sns/userinfo — needs snsapi_userinfo (48001); since
// 2021-10 sex/province/city/country are empty.
func (s *Sandbox) snsUserInfo(c *call) (any, *apiError) {
	p := s.w.personByID[c.tok.PersonID]
	if p == nil || p.OAOpenID != c.param("openid") {
		return nil, apiErr(40003, "invalid openid")
	}
	if c.tok.Scope != scopeUserInfo {
		return nil, errUnauthorized()
	}
	return map[string]any{"openid": p.OAOpenID, "nickname": p.Nickname, "sex": 0, "province": "", "city": "",
		"country": "", "headimgurl": p.Avatar, "privilege": []string{}, "unionid": p.UnionID}, nil
}

// mpCode2Session: GET /sns/jscode2session?appid&secret&js_code&grant_type (an
// access_token, which PowerWeChat adds, is ignored).
func (s *Sandbox) mpCode2Session(c *call) (any, *apiError) {
	if c.param("appid") != s.opts.MiniProgram.AppID {
		return nil, apiErr(40013, "invalid appid")
	}
	if c.param("secret") != s.opts.MiniProgram.Secret {
		return nil, apiErr(40125, "invalid appsecret")
	}
	cd, aerr := s.useCode(c.param("js_code"), "mp_login", apiErr(40163, "code been used"))
	if aerr != nil {
		return nil, aerr
	}
	p := s.w.personByID[cd.Subject]
	if p == nil {
		return nil, errInvalidCode()
	}
	s.touch()
	key := derive(s.w.Seed, "session_key|"+cd.Value, 0, "", 22) + "=="
	return map[string]any{"openid": p.MPOpenID, "session_key": key, "unionid": p.UnionID}, nil
}

// mpPhoneNumber: POST /wxa/business/getuserphonenumber {code}; single-use 5-minute code.
func (s *Sandbox) mpPhoneNumber(c *call) (any, *apiError) {
	var req struct {
		Code string `json:"code"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	cd, aerr := s.useCode(req.Code, "mp_phone", errInvalidCode())
	if aerr != nil {
		return nil, aerr
	}
	p := s.w.personByID[cd.Subject]
	if p == nil || p.Phone == "" {
		return nil, errInvalidCode()
	}
	s.touch()
	return map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
		"phoneNumber": p.Phone, "purePhoneNumber": p.Phone, "countryCode": "86",
		"watermark": map[string]any{"timestamp": s.now().Unix(), "appid": s.opts.MiniProgram.AppID}}}, nil
}
