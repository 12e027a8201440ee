package handlers

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/sidebar"
	"github.com/marketing-assistant/assistant/web"
)

// profile is GET /sidebar/c/:ext, loaded by the script once
// getCurExternalContact named the customer. A customer not known here yet
// is fetched from WeCom and linked on the spot, then shown.
func (h *sidebarHandler) profile(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	v, ctx := viewerOf(c), c.Request.Context()
	kinds := filterKinds(c.Query("k"))
	p, err := h.svc.Profile(ctx, v, ext, kinds)
	if services.ErrorCode(err) == services.ENOTFOUND && h.imports.Allow(v.UserID) {
		cl, ok := h.client(c)
		if !ok {
			return
		}
		if err = h.svc.ImportContact(ctx, v, ext, cl); err == nil {
			p, err = h.svc.Profile(ctx, v, ext, kinds)
		}
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	vm := profileVM(p, c.Query("k"), h.materials != nil)
	vm.HasTasks = h.tasks != nil
	if web.IsHTMX(c) {
		web.Render(c, http.StatusOK, sidebar.Profile(vm))
		return
	}
	web.Render(c, http.StatusOK, sidebar.ProfilePage(vm))
}

// timeline is GET /sidebar/c/:ext/timeline: the whole tab (filters and
// first page), or with more=1 the next page's items only (infinite scroll).
func (h *sidebarHandler) timeline(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	key := c.Query("k")
	tl, err := h.svc.Timeline(c.Request.Context(), viewerOf(c), ext,
		services.TimelineQuery{Cursor: c.Query("cursor"), Kinds: filterKinds(key)})
	if err != nil {
		h.fail(c, err)
		return
	}
	vm := timelineVM(ext, key, tl)
	if c.Query("more") == "1" {
		web.Render(c, http.StatusOK, sidebar.TimelineItems(vm))
		return
	}
	web.Render(c, http.StatusOK, sidebar.TimelinePanel(filterChips(ext, key), vm))
}

// timelineURL is the URL of a timeline page for a filter.
func timelineURL(ext, key, cursor string) string {
	q := url.Values{}
	if key != "" {
		q.Set("k", key)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
		q.Set("more", "1")
	}
	if len(q) == 0 {
		return base(ext) + "/timeline"
	}
	return base(ext) + "/timeline?" + q.Encode()
}
