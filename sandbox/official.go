package sandbox

import (
	"net/http"
	"sort"
)

// officialHost is api.weixin.qq.com: Official Account and mini-program APIs.
func (s *Sandbox) officialHost() http.Handler {
	r := map[string]route{
		"/cgi-bin/token":                             {authNone, s.oaGetToken},
		"/cgi-bin/stable_token":                      {authNone, s.oaStableToken},
		"/cgi-bin/ticket/getticket":                  {authOA, s.oaJSAPITicket},
		"/cgi-bin/user/info":                         {authOA, s.oaUserInfo},
		"/cgi-bin/user/info/batchget":                {authOA, s.oaUserInfoBatch},
		"/cgi-bin/user/get":                          {authOA, s.oaUserGet},
		"/cgi-bin/qrcode/create":                     {authOA, s.oaQRCodeCreate},
		"/cgi-bin/message/template/send":             {authOA, s.oaTemplateSend},
		"/cgi-bin/template/get_all_private_template": {authOA, s.oaTemplateList},
		"/sns/oauth2/access_token":                   {authNone, s.snsAccessToken},
		"/sns/oauth2/refresh_token":                  {authNone, s.snsRefreshToken},
		"/sns/auth":                                  {authSNS, s.snsAuth},
		"/sns/userinfo":                              {authSNS, s.snsUserInfo},
		"/sns/jscode2session":                        {authNone, s.mpCode2Session},
		"/wxa/business/getuserphonenumber":           {authMP, s.mpPhoneNumber},
	}
	return &apiHost{s: s, name: "official", routes: r}
}

// appOwner maps appid+secret to the token owner (OA or mini program).
func (s *Sandbox) appOwner(appID, secret string) (string, *apiError) {
	var owner, want string
	switch appID {
	case "":
		return "", apiErr(41002, "appid missing")
	case s.opts.Official.AppID:
		owner, want = ownerOA, s.opts.Official.Secret
	case s.opts.MiniProgram.AppID:
		owner, want = ownerMP, s.opts.MiniProgram.Secret
	default:
		return "", apiErr(40013, "invalid appid")
	}
	if secret != want {
		return "", apiErr(40125, "invalid appsecret")
	}
	return owner, nil
}

type oaTokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// oaGetToken: GET /cgi-bin/token — every call mints a new token and the
// previous one stays valid OATokenOverlap more ("5分钟内，新老access_token都可用").
func (s *Sandbox) oaGetToken(c *call) (any, *apiError) {
	if c.param("grant_type") != "client_credential" {
		return nil, apiErr(40002, "invalid grant_type")
	}
	owner, aerr := s.appOwner(c.param("appid"), c.param("secret"))
	if aerr != nil {
		return nil, aerr
	}
	t := s.oaToken(owner)
	s.touch()
	return oaTokenBody{t.Value, int(s.opts.TokenTTL.Seconds())}, nil
}

// oaStableToken: POST /cgi-bin/stable_token — the same token until expiry unless force_refresh.
func (s *Sandbox) oaStableToken(c *call) (any, *apiError) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if req.GrantType != "client_credential" {
		return nil, apiErr(40002, "invalid grant_type")
	}
	owner, aerr := s.appOwner(req.AppID, req.Secret)
	if aerr != nil {
		return nil, aerr
	}
	var t *token
	if req.ForceRefresh {
		t = s.oaToken(owner)
	} else {
		t = s.wecomToken(owner)
	}
	s.touch()
	return oaTokenBody{t.Value, int(t.ExpiresAt.Sub(s.now()).Seconds())}, nil
}

// oaJSAPITicket: GET /cgi-bin/ticket/getticket?type=jsapi (OA JS-SDK).
func (s *Sandbox) oaJSAPITicket(c *call) (any, *apiError) {
	if c.param("type") != "jsapi" && c.param("type") != "wx_card" {
		return nil, errBadParam("type")
	}
	t := s.jsTicket("oa_" + c.param("type"))
	s.touch()
	return ticketBody{ok(), t.Value, 7200}, nil
}

// oaUserBody is cgi-bin/user/info; since 2021-12 no nickname or avatar.
type oaUserBody struct {
	Subscribe      int     `json:"subscribe"`
	OpenID         string  `json:"openid"`
	Language       string  `json:"language,omitempty"`
	SubscribeTime  int64   `json:"subscribe_time,omitempty"`
	UnionID        string  `json:"unionid,omitempty"`
	Remark         *string `json:"remark,omitempty"`
	GroupID        *int    `json:"groupid,omitempty"`
	TagIDList      []int   `json:"tagid_list,omitempty"`
	SubscribeScene string  `json:"subscribe_scene,omitempty"`
	QRScene        *int64  `json:"qr_scene,omitempty"`
	QRSceneStr     *string `json:"qr_scene_str,omitempty"`
}

func oaUser(p *Person) oaUserBody {
	if !p.Subscribed {
		return oaUserBody{Subscribe: 0, OpenID: p.OAOpenID, UnionID: p.UnionID}
	}
	remark, group, scene, sceneStr := "", 0, p.QRScene, p.QRSceneStr
	return oaUserBody{Subscribe: 1, OpenID: p.OAOpenID, Language: "zh_CN", SubscribeTime: p.SubscribeTime,
		UnionID: p.UnionID, Remark: &remark, GroupID: &group, TagIDList: []int{}, SubscribeScene: p.SubscribeScene,
		QRScene: &scene, QRSceneStr: &sceneStr}
}

// oaUserInfo: GET /cgi-bin/user/info?openid=&lang=.
func (s *Sandbox) oaUserInfo(c *call) (any, *apiError) {
	p := s.w.byOAOpenID[c.param("openid")]
	if p == nil {
		return nil, apiErr(40003, "invalid openid")
	}
	return oaUser(p), nil
}

// oaUserInfoBatch: POST /cgi-bin/user/info/batchget {user_list ≤100}.
func (s *Sandbox) oaUserInfoBatch(c *call) (any, *apiError) {
	var req struct {
		UserList []struct {
			OpenID string `json:"openid"`
		} `json:"user_list"`
	}
	if aerr := c.decode(&req); aerr != nil {
		return nil, aerr
	}
	if len(req.UserList) == 0 || len(req.UserList) > 100 {
		return nil, apiErr(40032, "invalid openid list size")
	}
	out := make([]oaUserBody, 0, len(req.UserList))
	for _, u := range req.UserList {
		p := s.w.byOAOpenID[u.OpenID]
		if p == nil {
			return nil, apiErr(40003, "invalid openid")
		}
		out = append(out, oaUser(p))
	}
	return map[string]any{"user_info_list": out}, nil
}

// oaUserGet: GET /cgi-bin/user/get?next_openid= — ≤10000 per page; the call
// after the last page answers count 0 and an empty next_openid.
func (s *Sandbox) oaUserGet(c *call) (any, *apiError) {
	const pageSize = 10000
	start := 0
	if next := c.param("next_openid"); next != "" {
		p := s.w.byOAOpenID[next]
		i := indexOf(s.w.fans, p)
		if p == nil || i < 0 {
			return nil, apiErr(40003, "invalid next_openid")
		}
		start = i + 1
	}
	page := s.w.fans[start:min(start+pageSize, len(s.w.fans))]
	if len(page) == 0 {
		return map[string]any{"total": len(s.w.fans), "count": 0, "next_openid": ""}, nil
	}
	ids := make([]string, len(page))
	for i, p := range page {
		ids[i] = p.OAOpenID
	}
	return map[string]any{"total": len(s.w.fans), "count": len(ids), "data": map[string]any{"openid": ids},
		"next_openid": ids[len(ids)-1]}, nil
}

func indexOf(fans []*Person, p *Person) int {
	for i, f := range fans {
		if f == p {
			return i
		}
	}
	return -1
}

// sortFans orders fans by subscription time, then id, for user/get paging.
func sortFans(fans []*Person) {
	sort.SliceStable(fans, func(i, j int) bool {
		if fans[i].SubscribeTime != fans[j].SubscribeTime {
			return fans[i].SubscribeTime < fans[j].SubscribeTime
		}
		return fans[i].ID < fans[j].ID
	})
}
