package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// Segments is what the console needs of segments.
type Segments interface {
	List(ctx context.Context) ([]services.Segment, error)
	Get(ctx context.Context, id int64) (services.Segment, error)
	Count(ctx context.Context, f services.SegmentFilter) (int, error)
	Choices(ctx context.Context) (services.SegmentChoices, error)
	CreateSegment(ctx context.Context, v services.Operator, in services.SegmentInput) (services.Segment, error)
	UpdateSegment(ctx context.Context, v services.Operator, id int64, in services.SegmentInput) (services.Segment, error)
	DeleteSegment(ctx context.Context, v services.Operator, id int64) error
}

func (h *consoleHandler) registerSegments(g *gin.RouterGroup) {
	if h.Segments == nil {
		return
	}
	g.GET("/segments", h.listSegments)
	g.GET("/segments/new", h.newSegment)
	g.POST("/segments", h.createSegment)
	g.POST("/segments/count", h.countSegment)
	g.GET("/segments/:id", h.editSegment)
	g.GET("/segments/:id/count", h.segmentRowCount)
	g.POST("/segments/:id", h.updateSegment)
	g.POST("/segments/:id/delete", h.deleteSegment)
}

func (h *consoleHandler) listSegments(c *gin.Context) {
	ctx := c.Request.Context()
	list, err := h.Segments.List(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.SegmentsVM{Shell: adminShell(c, "客户人群", "/admin/segments"), CanWrite: currentAdmin(c).Role == services.RoleAdmin}
	if msg := map[string]string{"saved": "人群已保存", "deleted": "人群已删除"}[c.Query("flash")]; msg != "" {
		vm.Flash = &admin.Flash{Kind: "success", Text: msg}
	}
	for _, s := range list {
		vm.Rows = append(vm.Rows, admin.SegmentRowVM{ID: s.ID, Name: s.Name, Summary: segmentSummary(s.Filter),
			Updated: s.UpdatedAt.In(chinaTZ).Format("2006-01-02 15:04")})
	}
	web.Render(c, http.StatusOK, admin.SegmentsPage(vm))
}

// segmentRowCount answers one list row's size (admins and managers).
func (h *consoleHandler) segmentRowCount(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	s, err := h.Segments.Get(ctx, id)
	var n int
	if err == nil {
		n, err = h.Segments.Count(ctx, s.Filter)
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	web.Render(c, http.StatusOK, admin.SegmentRowCount(n))
}

func (h *consoleHandler) newSegment(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	h.renderSegmentForm(c, http.StatusOK, "/admin/segments", services.SegmentInput{}, nil)
}

func (h *consoleHandler) editSegment(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	s, err := h.Segments.Get(c.Request.Context(), id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	h.renderSegmentForm(c, http.StatusOK, c.Request.URL.Path, services.SegmentInput{Name: s.Name, Filter: s.Filter}, nil)
}

// segmentInput reads the form; unparsable numbers become out-of-range
// values so that validation names the field instead of ignoring it.
func segmentInput(c *gin.Context) services.SegmentInput {
	f := services.SegmentFilter{TagIDs: c.PostFormArray("tag"), ExcludeTagIDs: c.PostFormArray("exclude_tag"),
		Channels: append(c.PostFormArray("channel"), splitList(c.PostForm("channel_other"))...),
		HasKinds: c.PostFormArray("has_kind"), LacksKinds: c.PostFormArray("lacks_kind"),
		FormMode: c.PostForm("form_mode"), InactiveSince: c.PostForm("inactive_since")}
	for _, l := range c.PostFormArray("level") {
		if id, err := strconv.ParseInt(l, 10, 64); err == nil {
			f.LevelIDs = append(f.LevelIDs, id)
		}
	}
	f.FormID, _ = strconv.ParseInt(c.PostForm("form"), 10, 64)
	if d := strings.TrimSpace(c.PostForm("active_days")); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			n = -1
		}
		f.ActiveWithinDays = n
	}
	return services.SegmentInput{Name: c.PostForm("name"), Filter: f}
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == ' ' || r == '\n' })
}

// countSegment answers the live count fragment for the form as typed.
func (h *consoleHandler) countSegment(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	n, err := h.Segments.Count(c.Request.Context(), segmentInput(c).Filter)
	vm := admin.SegmentCountVM{N: n}
	switch services.ErrorCode(err) {
	case "":
	case services.EINVALID:
		vm.Error = services.ErrorMessage(err)
		for _, f := range services.ErrorFields(err) {
			vm.Error = f
		}
	default:
		web.Fail(c, err)
		return
	}
	web.Render(c, http.StatusOK, admin.SegmentCount(vm))
}

func (h *consoleHandler) createSegment(c *gin.Context) {
	in := segmentInput(c)
	_, err := h.Segments.CreateSegment(c.Request.Context(), operator(c), in)
	h.segmentSaved(c, "/admin/segments", in, err)
}

func (h *consoleHandler) updateSegment(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	in := segmentInput(c)
	_, err := h.Segments.UpdateSegment(c.Request.Context(), operator(c), id, in)
	h.segmentSaved(c, c.Request.URL.Path, in, err)
}

func (h *consoleHandler) segmentSaved(c *gin.Context, action string, in services.SegmentInput, err error) {
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, "/admin/segments?flash=saved")
	case services.EINVALID:
		h.renderSegmentForm(c, http.StatusUnprocessableEntity, action, in, err)
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) deleteSegment(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if err := h.Segments.DeleteSegment(c.Request.Context(), operator(c), id); err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/segments?flash=deleted")
}
