package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// previewMerge shows what merging the user with ?with= would do; the merge
// itself is a separate POST from this page.
func (h *consoleHandler) previewMerge(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	with, err := strconv.ParseInt(c.Query("with"), 10, 64)
	if err != nil || with <= 0 {
		h.renderUser(c, id, http.StatusUnprocessableEntity, &admin.Flash{Kind: "error", Text: "请填写要合并的营销用户编号"}, nil)
		return
	}
	h.renderMerge(c, id, with, http.StatusOK, "", "")
}

func (h *consoleHandler) renderMerge(c *gin.Context, id, with int64, status int, reason, errText string) {
	plan, err := h.Users.PreviewMerge(c.Request.Context(), operator(c), id, with)
	if code := services.ErrorCode(err); code == services.ECONFLICT {
		h.renderUser(c, id, http.StatusConflict, &admin.Flash{Kind: "error", Text: services.ErrorMessage(err)}, nil)
		return
	} else if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.MergeVM{Shell: adminShell(c, "合并预览", "/admin/users"), From: id, With: with,
		Survivor: plan.Survivor, Absorbed: plan.Absorbed, Identities: plan.Identities, Phones: plan.Phones,
		Violations: plan.Violations, Reason: reason, Error: errText}
	for _, i := range plan.SurvivorIdentities {
		vm.SurvivorIDs = append(vm.SurvivorIDs, identityVM(i, ""))
	}
	for _, i := range plan.AbsorbedIdentities {
		vm.AbsorbedIDs = append(vm.AbsorbedIDs, identityVM(i, ""))
	}
	web.Render(c, status, admin.MergePage(vm))
}

func (h *consoleHandler) mergeUsers(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	with, _ := strconv.ParseInt(c.PostForm("with"), 10, 64)
	r, err := h.Users.Merge(c.Request.Context(), operator(c), id, with, c.PostForm("reason"))
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, "/admin/users/"+strconv.FormatInt(r.Survivor, 10)+"?merged="+strconv.FormatInt(r.Absorbed, 10))
	case services.ECONFLICT:
		h.renderMerge(c, id, with, http.StatusConflict, c.PostForm("reason"), services.ErrorMessage(err))
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) splitUser(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	var ids []int64
	for _, s := range c.PostFormArray("identity") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			ids = append(ids, v)
		}
	}
	r, err := h.Users.Split(c.Request.Context(), operator(c), id, ids, c.PostForm("reason"))
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, "/admin/users/"+strconv.FormatInt(r.NewUserID, 10)+"?split="+strconv.FormatInt(r.UserID, 10))
	case services.EINVALID:
		h.renderUser(c, id, http.StatusUnprocessableEntity, &admin.Flash{Kind: "error", Text: splitError(err)}, nil)
	default:
		web.Fail(c, err)
	}
}

func splitError(err error) string {
	if f := services.ErrorFields(err)["identities"]; f != "" {
		return f
	}
	return services.ErrorMessage(err)
}

func (h *consoleHandler) listConflicts(c *gin.Context) {
	status, ok := c.GetQuery("status")
	if !ok {
		status = "open"
	}
	cs, err := h.Users.Conflicts(c.Request.Context(), operator(c), status)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.ConflictsVM{Shell: adminShell(c, "身份冲突", "/admin/conflicts"), Status: status, Conflicts: conflictVMs(cs)}
	statuses := []struct{ value, label string }{{"open", "待处理"}, {"merged", "已合并"}, {"dismissed", "保持分开"}, {"", "全部"}}
	for _, s := range statuses {
		vm.Statuses = append(vm.Statuses, admin.Option{Value: s.value, Label: s.label, Selected: s.value == status})
	}
	if c.Query("done") != "" {
		vm.Flash = &admin.Flash{Kind: "success", Text: "冲突已处理"}
	}
	web.Render(c, http.StatusOK, admin.ConflictsPage(vm))
}

func (h *consoleHandler) resolveConflict(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if err := h.Users.ResolveConflict(c.Request.Context(), operator(c), id, c.PostForm("resolution")); err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/conflicts?done=1")
}
