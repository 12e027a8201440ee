package wecom

import (
	"net/url"
	"strconv"
	"strings"
)

// defaultWebLoginBaseURL hosts WeCom's web (QR code) login page.
const defaultWebLoginBaseURL = "https://login.work.weixin.qq.com"

// WebLoginURL builds the WeCom web login URL of the self-built app
// (wechat-protocol.md §3.2, "构造企业微信登录链接"): the page shows a QR code
// that an employee scans with WeCom, then WeCom redirects to
// redirectURI?code=CODE&state=STATE. The code is exchanged with
// UserIDFromOAuthCode, exactly like an OAuth code.
//
// A simulator (Config.OAuthBaseURL set) serves this page on its OAuth host:
// one stand-in for WeCom's browser-facing pages, with no host of its own.
func (c *Client) WebLoginURL(redirectURI, state string) string {
	base := defaultWebLoginBaseURL
	if c.cfg.OAuthBaseURL != "" {
		base = strings.TrimRight(c.cfg.OAuthBaseURL, "/")
	}
	return base + "/wwlogin/sso/login?login_type=CorpApp&appid=" + url.QueryEscape(c.cfg.CorpID) +
		"&agentid=" + strconv.Itoa(c.cfg.AgentID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&state=" + url.QueryEscape(state)
}
