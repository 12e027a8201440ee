package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// wecomQRLogin starts WeCom web (QR code) sign-in, for a desktop browser
// outside WeCom: WeCom's login page shows a QR code, the employee scans it
// with WeCom and is sent back with a code. It shares the OAuth path's state
// binding and callback (/admin/login/wecom/callback), so the code exchange
// (auth/getuserinfo) and the role check are the same.
func (h *consoleHandler) wecomQRLogin(c *gin.Context) {
	client, st, ok := h.beginWeComSignIn(c, signInWeComQR)
	if !ok {
		return
	}
	c.Redirect(http.StatusFound, client.WebLoginURL(h.wecomCallbackURL(), st.State))
}

// wecomConnected tells the sign-in page whether WeCom sign-in can work, so
// the QR link is offered only then. It must not slow the page down when the
// database or settings are unhealthy, hence the short deadline.
func wecomConnected(ctx context.Context, wc WeChatClients) bool {
	if wc == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	client, err := wc.WeChat(ctx)
	return err == nil && client != nil
}
