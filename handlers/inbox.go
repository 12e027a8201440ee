package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/settings"
	"github.com/marketing-assistant/assistant/web"
)

// InboxAdmin is what the inbox page needs.
type InboxAdmin interface {
	Stats(ctx context.Context) (services.InboxStats, error)
	DeadLetters(ctx context.Context, limit int) ([]services.InboxItem, error)
	Retry(ctx context.Context, id int64, by services.Actor) error
}

type inboxHandler struct {
	inbox InboxAdmin
}

func (h *inboxHandler) show(c *gin.Context) {
	ctx := c.Request.Context()
	st, err := h.inbox.Stats(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	dead, err := h.inbox.DeadLetters(ctx, 200)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := settings.InboxVM{Shell: adminShell(c, "回调收件箱", "/admin/inbox"), Pending: st.Pending, Done: st.Done,
		Dead: st.Dead, Lag: st.OldestPending.Round(time.Second).String()}
	if c.Query("retried") != "" {
		vm.Flash, vm.FlashKind = "已重新排队 #"+c.Query("retried"), "success"
	}
	for _, it := range dead {
		vm.Rows = append(vm.Rows, settings.InboxRow{ID: it.ID, Source: it.Source, Event: it.Event, Attempts: it.Attempts,
			LastError: it.LastError, ReceivedAt: it.ReceivedAt})
	}
	web.Render(c, http.StatusOK, settings.InboxPage(vm))
}

func (h *inboxHandler) retry(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		web.Fail(c, services.Errorf(services.ENOTFOUND, "该死信不存在"))
		return
	}
	if err := h.inbox.Retry(c.Request.Context(), id, actorOf(c)); err != nil {
		web.Fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/inbox?retried="+strconv.FormatInt(id, 10))
}
