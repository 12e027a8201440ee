package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// Lifecycle is what the console needs for archiving and erasure.
type Lifecycle interface {
	ArchiveInactive(ctx context.Context, v services.Operator, days int) (services.ArchiveResult, error)
	ErasePerson(ctx context.Context, v services.Operator, userID int64, reason string) (services.Erasure, error)
	Erasures(ctx context.Context, v services.Operator) ([]services.Erasure, error)
	ArchivedCount(ctx context.Context) (int, error)
}

func (h *consoleHandler) registerLifecycle(g *gin.RouterGroup) {
	if h.Lifecycle == nil {
		return
	}
	g.GET("/lifecycle", h.showLifecycle)
	g.POST("/lifecycle/archive", h.archiveInactive)
	g.POST("/lifecycle/erase", h.erasePerson)
}

func (h *consoleHandler) showLifecycle(c *gin.Context) {
	var flash *admin.Flash
	if msg := c.Query("done"); msg != "" {
		flash = &admin.Flash{Kind: "success", Text: msg}
	}
	h.renderLifecycle(c, http.StatusOK, flash)
}

func (h *consoleHandler) renderLifecycle(c *gin.Context, status int, flash *admin.Flash) {
	ctx := c.Request.Context()
	es, err := h.Lifecycle.Erasures(ctx, operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	n, err := h.Lifecycle.ArchivedCount(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.LifecycleVM{Shell: adminShell(c, "数据管理", "/admin/lifecycle"), Days: services.DefaultInactiveDays,
		Archived: n, Flash: flash}
	for _, e := range es {
		vm.Erasures = append(vm.Erasures, admin.ErasureVM{UserID: e.UserID, At: e.ErasedAt.Local().Format("2006-01-02 15:04"),
			By: e.RequestedBy, Reason: e.Reason, Identities: e.Identities, Counts: string(e.MomentCounts)})
	}
	web.Render(c, status, admin.LifecyclePage(vm))
}

func (h *consoleHandler) lifecycleDone(c *gin.Context, err error, done string) {
	switch code := services.ErrorCode(err); code {
	case "":
		seeOther(c, "/admin/lifecycle?done="+url.QueryEscape(done))
	case services.EINVALID, services.ENOTFOUND, services.ECONFLICT:
		msg := services.ErrorMessage(err)
		for _, f := range services.ErrorFields(err) {
			msg = f
		}
		h.renderLifecycle(c, web.Status(code), &admin.Flash{Kind: "error", Text: msg})
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) archiveInactive(c *gin.Context) {
	days, err := strconv.Atoi(c.PostForm("days"))
	if err != nil {
		days = -1
	}
	r, err := h.Lifecycle.ArchiveInactive(c.Request.Context(), operator(c), days)
	h.lifecycleDone(c, err, fmt.Sprintf("已归档 %d 人，恢复 %d 人", r.Archived, r.Restored))
}

func (h *consoleHandler) erasePerson(c *gin.Context) {
	id, err := strconv.ParseInt(c.PostForm("user"), 10, 64)
	if err != nil || id <= 0 {
		h.lifecycleDone(c, services.Invalid("请填写营销用户编号", map[string]string{"user": "请填写营销用户编号"}), "")
		return
	}
	e, err := h.Lifecycle.ErasePerson(c.Request.Context(), operator(c), id, c.PostForm("reason"))
	h.lifecycleDone(c, err, fmt.Sprintf("已删除营销用户 #%d 的个人数据", e.UserID))
}
