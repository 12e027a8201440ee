package wecom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ArtisanCloud/PowerLibs/v3/object"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount"
)

// Scopes for AuthorizeURL (WeCom) and OAAuthorizeURL (Official Account).
const (
	ScopeBase        = "snsapi_base"        // silent; WeCom userid / OA openid
	ScopePrivateInfo = "snsapi_privateinfo" // WeCom: consent, user_ticket
	ScopeUserInfo    = "snsapi_userinfo"    // OA: consent, nickname and unionid
)

// AuthorizeURL builds the WeCom OAuth URL for the app, in the documented
// parameter order. The SDK's builder (oauth.Provider.GetOAuthURL) cannot be
// used: it orders parameters randomly (a Go map), leaves redirect_uri empty
// and unencoded, and adds a trailing '&'.
func (c *Client) AuthorizeURL(redirectURI, state, scope string) string {
	if scope == "" {
		scope = ScopeBase
	}
	return c.cfg.oauthBase() + "/connect/oauth2/authorize?appid=" + url.QueryEscape(c.cfg.CorpID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=" + url.QueryEscape(scope) +
		"&state=" + url.QueryEscape(state) +
		"&agentid=" + strconv.Itoa(c.cfg.AgentID) + "#wechat_redirect"
}

// OAAuthorizeURL builds the Official Account web OAuth URL (scope
// ScopeBase or ScopeUserInfo), in the documented parameter order. The SDK's
// builder ignores the configured scopes and never encodes redirect_uri.
func (c *Client) OAAuthorizeURL(redirectURI, state, scope string) string {
	if scope == "" {
		scope = ScopeBase
	}
	return c.cfg.oauthBase() + "/connect/oauth2/authorize?appid=" + url.QueryEscape(c.cfg.OA.AppID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=" + url.QueryEscape(scope) +
		"&state=" + url.QueryEscape(state) + "#wechat_redirect"
}

// OAGrant is the answer of sns/oauth2/access_token. UnionID is present only
// for ScopeUserInfo (and an OA bound to an Open Platform account).
// AccessToken is the user's web access token for OAUserInfo: a secret,
// never log or store it.
type OAGrant struct {
	OpenID         string
	UnionID        string
	Scope          string
	AccessToken    string
	IsSnapshotUser bool
}

// OAProfile is sns/userinfo. Since 2021 WeChat returns no sex or region.
type OAProfile struct {
	OpenID, UnionID, Nickname, HeadImgURL string
}

// OAExchangeCode exchanges an OA OAuth code (single use, 5 minutes).
//
// The request goes through PowerSocialite's own HTTP client (the SDK's OAuth
// provider, app.OAuth), pointed at Config.OABaseURL with SetBaseUrl in newOA,
// but the answer is decoded here: UserFromCode drops the token response for
// snsapi_base (and with it unionid/scope), and GetTokenFromCode turns a WeChat
// error into errors.New(errmsg), losing the errcode. Note: PowerSocialite
// does not use Config.Transport or HTTPTimeout (it has no such knobs); the
// context deadline bounds the call instead.
func (c *Client) OAExchangeCode(ctx context.Context, code string) (OAGrant, error) {
	return onOAuth(ctx, c, func(app *officialAccount.OfficialAccount) (OAGrant, error) {
		h, err := app.OAuth.GetHttpClient()
		if err != nil {
			return OAGrant{}, fmt.Errorf("wecom: sns/oauth2/access_token: %w", err)
		}
		df := h.Df().WithContext(ctx).Url(app.OAuth.GetTokenURL()).Method(http.MethodGet)
		for k, v := range *app.OAuth.GetTokenFields(code) {
			df.Query(k, v)
		}
		rs, err := df.Request()
		if err != nil {
			return OAGrant{}, fmt.Errorf("wecom: sns/oauth2/access_token: %w", redactErr(err))
		}
		defer rs.Body.Close()
		var res struct {
			ErrCode        int    `json:"errcode"`
			ErrMsg         string `json:"errmsg"`
			AccessToken    string `json:"access_token"`
			OpenID         string `json:"openid"`
			UnionID        string `json:"unionid"`
			Scope          string `json:"scope"`
			IsSnapshotUser int    `json:"is_snapshotuser"`
		}
		if err := h.ParseResponseBodyContent(rs, &res); err != nil {
			return OAGrant{}, fmt.Errorf("wecom: sns/oauth2/access_token: decode: %w", err)
		}
		if err := check("sns/oauth2/access_token", nil, res.ErrCode, res.ErrMsg); err != nil {
			return OAGrant{}, err
		}
		return OAGrant{OpenID: res.OpenID, UnionID: res.UnionID, Scope: res.Scope, AccessToken: res.AccessToken, IsSnapshotUser: res.IsSnapshotUser == 1}, nil
	})
}

// OAUserInfo reads the profile granted with ScopeUserInfo (sns/userinfo),
// using the user's web access token from OAExchangeCode.
func (c *Client) OAUserInfo(ctx context.Context, accessToken, openID string) (OAProfile, error) {
	return onOAuth(ctx, c, func(app *officialAccount.OfficialAccount) (OAProfile, error) {
		// Through PowerSocialite (not the OA BaseClient: its token middleware
		// would overwrite access_token with the OA's own token).
		h, err := app.OAuth.GetHttpClient()
		if err != nil {
			return OAProfile{}, fmt.Errorf("wecom: sns/userinfo: %w", err)
		}
		rs, err := h.Df().WithContext(ctx).Url(c.cfg.oaBase()+"sns/userinfo").Method(http.MethodGet).
			Query("access_token", accessToken).Query("openid", openID).Query("lang", "zh_CN").Request()
		if err != nil {
			return OAProfile{}, fmt.Errorf("wecom: sns/userinfo: %w", redactErr(err))
		}
		defer rs.Body.Close()
		var m object.HashMap
		if err := h.ParseResponseBodyToMap(rs, &m); err != nil {
			return OAProfile{}, fmt.Errorf("wecom: sns/userinfo: decode: %w", err)
		}
		code, _ := m["errcode"].(float64)
		msg, _ := m["errmsg"].(string)
		if err := check("sns/userinfo", nil, int(code), msg); err != nil {
			return OAProfile{}, err
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		return OAProfile{OpenID: str("openid"), UnionID: str("unionid"), Nickname: str("nickname"), HeadImgURL: str("headimgurl")}, nil
	})
}

// onOAuth borrows an OA app without fetching the OA's own access token: the
// web OAuth endpoints do not use it, and requiring it would make OAuth fail
// whenever the server IP is not whitelisted for the OA.
func onOAuth[R any](ctx context.Context, c *Client, fn func(*officialAccount.OfficialAccount) (R, error)) (R, error) {
	var zero R
	if c.oa == nil {
		return zero, errNotConfigured
	}
	app, err := c.oa.get(ctx)
	if err != nil {
		return zero, fmt.Errorf("wecom: %w", err)
	}
	defer c.oa.put(app)
	return fn(app)
}
