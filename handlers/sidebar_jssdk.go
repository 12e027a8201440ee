package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/web"
)

// signConfig signs a page URL with the corp jsapi_ticket
// (ww.register getConfigSignature).
func (h *sidebarHandler) signConfig(c *gin.Context) {
	h.sign(c, func(cl *wecom.Client, ctx context.Context, u string) (wecom.Signature, error) {
		return cl.ConfigSignature(ctx, u)
	})
}

// signAgent signs a page URL with the agent ticket
// (getAgentConfigSignature), which getCurExternalContact and
// sendChatMessage need.
func (h *sidebarHandler) signAgent(c *gin.Context) {
	h.sign(c, func(cl *wecom.Client, ctx context.Context, u string) (wecom.Signature, error) {
		return cl.AgentConfigSignature(ctx, u)
	})
}

type signFunc func(cl *wecom.Client, ctx context.Context, pageURL string) (wecom.Signature, error)

// sign signs exactly the URL the page asks for (the SDK passes the landing
// URL on iOS), provided it is one of our pages: the tickets are not lent to
// other sites. Errors are JSON for the script's diagnosis panel.
func (h *sidebarHandler) sign(c *gin.Context, fn signFunc) {
	pageURL, ok := h.ownPage(c.PostForm("url"))
	if !ok {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"errcode": 40093, "errmsg": "只能为 " + h.baseURL + " 下的页面签名",
			"advice": "页面地址与设置的 BASE_URL 不一致：请用 BASE_URL 的地址打开侧边栏。"})
		return
	}
	cl, err := h.wechat.WeChat(c.Request.Context())
	if err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"errcode": -1, "errmsg": err.Error()})
		return
	}
	sig, err := fn(cl, c.Request.Context(), pageURL)
	if err != nil {
		var ae *wecom.APIError
		if asAPIError(err, &ae) {
			c.JSON(http.StatusBadGateway, gin.H{"errcode": ae.Code, "errmsg": ae.Msg, "advice": ae.Advice()})
			return
		}
		web.Logger(c).Error("sign failed", "err", err)
		c.JSON(http.StatusBadGateway, gin.H{"errcode": -1, "errmsg": "获取票据失败", "request_id": web.RequestID(c)})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"timestamp": sig.Timestamp, "nonceStr": sig.NonceStr, "signature": sig.Signature, "url": pageURL})
}

// ownPage returns the URL without its fragment when it is under BASE_URL.
func (h *sidebarHandler) ownPage(raw string) (string, bool) {
	raw, _, _ = strings.Cut(raw, "#")
	u, err := url.Parse(raw)
	b, berr := url.Parse(h.baseURL)
	if err != nil || berr != nil || len(raw) > 2048 || u.Scheme != b.Scheme || u.Host != b.Host ||
		!strings.HasPrefix(u.Path, "/sidebar") {
		return "", false
	}
	return raw, true
}
