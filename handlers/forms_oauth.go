package handlers

import (
	"crypto/subtle"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/web"
)

// oauthReturn is GET /f/:slug/oauth, where WeChat sends the visitor back.
// The state must match the one bound to this browser (and is forgotten at
// once, so a replayed return fails); the code is exchanged once; every
// failure explains itself and offers a retry.
func (h *formHandler) oauthReturn(c *gin.Context) {
	f, err := h.Forms.FindPublishedForm(c.Request.Context(), c.Param("slug"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	p, ok := h.pending.Read(c)
	h.pending.Clear(c)
	state := c.Query("state")
	if !ok || p.Slug != f.Slug || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(p.State)) != 1 {
		h.authProblem(c, f, http.StatusBadRequest, "授权已失效或链接不完整，请重新打开表单。", p.Query)
		return
	}
	code := c.Query("code")
	if code == "" {
		h.authProblem(c, f, http.StatusOK, "你取消了微信授权。授权后顾问能更好地为你服务，你也可以重新授权。", p.Query)
		return
	}
	v, err := h.exchange(c, code, p.Scope)
	if err != nil {
		if services.ErrorCode(err) == services.EUNAVAILABLE && !wecom.IsAPIError(err) {
			web.Fail(c, err) // not connected
			return
		}
		web.Logger(c).Warn("form oauth failed", "form_id", f.ID, "err", err)
		h.authProblem(c, f, http.StatusBadGateway, oauthFailure(err), p.Query)
		return
	}
	if err := h.wx.Write(c, v); err != nil {
		web.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, formPath(f.Slug, "", p.Query))
}

// exchange turns the code into the visitor's ids: the openid, and the
// unionid from the grant (snsapi_userinfo), else from the Official
// Account's user/info (followers), else from sns/userinfo.
func (h *formHandler) exchange(c *gin.Context, code, scope string) (wechatVisitor, error) {
	ctx := c.Request.Context()
	cl, err := h.WeChat.WeChat(ctx)
	if err != nil {
		return wechatVisitor{}, err
	}
	g, err := cl.OAExchangeCode(ctx, code)
	if err != nil {
		return wechatVisitor{}, err
	}
	if g.IsSnapshotUser || g.OpenID == "" {
		return wechatVisitor{}, errSnapshot
	}
	v := wechatVisitor{AppID: cl.AppIDs().OAAppID, OpenID: g.OpenID, UnionID: g.UnionID, UserInfo: scope == wecom.ScopeUserInfo}
	if v.UnionID == "" && scope == wecom.ScopeBase {
		if u, err := cl.OAUser(ctx, g.OpenID); err == nil && u.UnionID != "" {
			v.UnionID = u.UnionID
		}
	}
	if v.UnionID == "" && scope == wecom.ScopeUserInfo {
		if p, err := cl.OAUserInfo(ctx, g.AccessToken, g.OpenID); err == nil {
			v.UnionID = p.UnionID
		}
	}
	return v, nil
}

var errSnapshot = services.Errorf(services.EINVALID, "snapshot user")

func oauthFailure(err error) string {
	switch {
	case err == errSnapshot:
		return "当前是微信的快照预览页，请点击页面底部「使用完整服务」后重试。"
	case wecom.IsAPIError(err, 40029, 40163):
		return "授权码无效或已被使用，请重新授权。"
	}
	return "微信暂时无法完成授权，请稍后重试。"
}
