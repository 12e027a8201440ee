package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

type adminHandler struct {
	accounts AdminAccounts
	audit    AuditLog
	cookies  *web.Cookies[AdminSession]
	wecom    WeChatClients // nil: no WeCom sign-in offered beyond the OAuth link
}

// loginVM fills what every rendering of the sign-in page shares.
func (h *adminHandler) loginVM(c *gin.Context, vm admin.LoginVM) admin.LoginVM {
	vm.WeComQR = wecomConnected(c.Request.Context(), h.wecom)
	return vm
}

func (h *adminHandler) loginPage(c *gin.Context) {
	if _, ok := h.load(c); ok {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	web.Render(c, http.StatusOK, admin.LoginPage(h.loginVM(c, admin.LoginVM{Next: safeNext(c.Query("next"))})))
}

func (h *adminHandler) login(c *gin.Context) {
	name, next := c.PostForm("name"), safeNext(c.PostForm("next"))
	acct, err := h.accounts.SignIn(c.Request.Context(), name, c.PostForm("password"), c.ClientIP())
	if err != nil {
		code := services.ErrorCode(err)
		if code == services.EINTERNAL {
			web.Fail(c, err)
			return
		}
		web.Render(c, web.Status(code), admin.LoginPage(h.loginVM(c, admin.LoginVM{Name: name, Next: next, Error: services.ErrorMessage(err)})))
		return
	}
	s := AdminSession{Kind: "local", ID: strconv.FormatInt(acct.ID, 10), IssuedAt: time.Now().Unix()}
	if err := h.cookies.Write(c, s); err != nil {
		web.Fail(c, fmt.Errorf("admin: write session: %w", err))
		return
	}
	c.Redirect(http.StatusSeeOther, next)
}

func (h *adminHandler) logout(c *gin.Context) {
	if a, ok := h.load(c); ok {
		_ = h.audit.Record(c.Request.Context(), services.AuditEntry{ActorKind: a.Kind, ActorID: a.ID, Action: "sign_out", IP: c.ClientIP()})
	}
	h.cookies.Clear(c)
	c.Redirect(http.StatusSeeOther, "/admin/login")
}
