package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/views/sidebar"
	"github.com/marketing-assistant/assistant/web"
)

// tags is GET /sidebar/c/:ext/tags: the corp tags, the relation's marked.
func (h *sidebarHandler) tags(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	cl, ok := h.client(c)
	if !ok {
		return
	}
	groups, err := h.svc.Tags(c.Request.Context(), viewerOf(c), ext, cl)
	h.renderTags(c, ext, groups, err)
}

// toggleTag is POST /sidebar/c/:ext/tags (tag, on): mark_tag, then the
// tags as they are now. A WeCom refusal is shown above the toggles.
func (h *sidebarHandler) toggleTag(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	cl, ok := h.client(c)
	if !ok {
		return
	}
	v, ctx := viewerOf(c), c.Request.Context()
	groups, err := h.svc.ToggleTag(ctx, v, ext, c.PostForm("tag"), c.PostForm("on") == "1", cl)
	if err != nil && isShownTagError(err) {
		// Show the error with the tags as they really are.
		groups, _ = h.svc.Tags(ctx, v, ext, cl)
	}
	h.renderTags(c, ext, groups, err)
}

// isShownTagError: errors the tags panel shows in place (the rest get the
// failure screen).
func isShownTagError(err error) bool {
	var ae *wecom.APIError
	return asAPIError(err, &ae) || services.ErrorCode(err) == services.EFORBIDDEN
}

func (h *sidebarHandler) renderTags(c *gin.Context, ext string, groups []services.SidebarTagGroup, err error) {
	vm := sidebar.TagsVM{PostURL: base(ext) + "/tags"}
	var ae *wecom.APIError
	switch {
	case err == nil:
	case asAPIError(err, &ae):
		vm.Error = "企业微信拒绝了标签修改（" + strconv.Itoa(ae.Code) + " " + ae.Msg + "）。"
		vm.Advice = ae.Advice()
	case services.ErrorCode(err) == services.EFORBIDDEN:
		vm.Notice = services.ErrorMessage(err)
	default:
		h.fail(c, err)
		return
	}
	for _, g := range groups {
		tg := sidebar.TagGroup{Name: g.Name}
		for _, t := range g.Tags {
			tg.Tags = append(tg.Tags, sidebar.Tag{ID: t.ID, Name: t.Name, On: t.On})
		}
		vm.Groups = append(vm.Groups, tg)
	}
	if len(vm.Groups) == 0 && vm.Error == "" && vm.Notice == "" {
		vm.Notice = "企业还没有客户标签：管理员可在企业微信「客户联系 → 客户标签」中添加。"
	}
	status := http.StatusOK
	if vm.Error != "" {
		// 422 is swapped by htmx (layout's responseHandling): the error shows in place.
		status = http.StatusUnprocessableEntity
	}
	web.Render(c, status, sidebar.Tags(vm))
}

// revealPhone is POST /sidebar/c/:ext/phones/:id/reveal (audited).
func (h *sidebarHandler) revealPhone(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		h.fail(c, services.Errorf(services.ENOTFOUND, "手机号不存在"))
		return
	}
	phone, err := h.svc.RevealPhone(c.Request.Context(), viewerOf(c), ext, id, c.ClientIP())
	if err != nil {
		h.fail(c, err)
		return
	}
	web.Render(c, http.StatusOK, sidebar.PhoneRow(sidebar.Phone{IdentityID: id, Verified: false}, phone))
}

// convertToCRM is POST /sidebar/c/:ext/crm (kind, name, company): a local
// CRM record linked to the customer; the profile is shown again with it.
func (h *sidebarHandler) convertToCRM(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	v, ctx := viewerOf(c), c.Request.Context()
	in := services.CRMInput{Kind: services.IdentityKind(c.PostForm("kind")), Name: c.PostForm("name"), Company: c.PostForm("company")}
	p, err := h.svc.Profile(ctx, v, ext, nil)
	if err != nil {
		h.fail(c, err)
		return
	}
	if in.Name == "" {
		in.Name, in.Company = firstOf(p.Contact.Remark, p.Contact.Name), p.Contact.CorpName
	}
	rec, cerr := h.svc.ConvertToCRM(ctx, v, ext, in)
	code := services.ErrorCode(cerr)
	if cerr != nil && code != services.EINVALID && code != services.ECONFLICT {
		h.fail(c, cerr)
		return
	}
	if cerr == nil {
		if p, err = h.svc.Profile(ctx, v, ext, nil); err != nil {
			h.fail(c, err)
			return
		}
	}
	vm := profileVM(p, "", h.materials != nil)
	vm.HasTasks = h.tasks != nil
	if cerr != nil {
		vm.CRMError = services.ErrorMessage(cerr)
	} else {
		vm.CRMMessage = "已创建 CRM " + services.CRMLabel(rec.Kind) + " " + rec.PublicID
	}
	web.Render(c, http.StatusOK, sidebar.CRMSection(vm))
}

// group is GET /sidebar/g/:chat, loaded once getCurExternalChat named it.
func (h *sidebarHandler) group(c *gin.Context) {
	chat, ok := h.idParam(c, "chat")
	if !ok {
		return
	}
	cl, ok := h.client(c)
	if !ok {
		return
	}
	g, err := h.svc.Group(c.Request.Context(), viewerOf(c), chat, cl)
	if err != nil {
		h.fail(c, err)
		return
	}
	vm := sidebar.GroupVM{ChatID: g.ChatID, Name: firstOf(g.Name, "未命名客户群"), Owner: firstOf(g.OwnerName, g.Owner),
		Members: g.Members, Customers: g.Customers, KnownUsers: g.KnownUsers}
	for _, m := range g.Moments {
		vm.Moments = append(vm.Moments, momentVM(m))
	}
	web.Render(c, http.StatusOK, sidebar.Group(vm))
}

// listMaterials is GET /sidebar/c/:ext/materials.
func (h *sidebarHandler) listMaterials(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	if h.materials == nil {
		h.fail(c, services.Errorf(services.ENOTFOUND, "素材功能未启用"))
		return
	}
	ms, err := h.materials.Materials(c.Request.Context(), viewerOf(c), ext)
	if err != nil {
		h.fail(c, err)
		return
	}
	vm := sidebar.MaterialsVM{}
	for _, m := range ms {
		vm.Materials = append(vm.Materials, materialVM(ext, m))
	}
	web.Render(c, http.StatusOK, sidebar.Materials(vm))
}

func materialVM(ext string, m services.SidebarMaterial) sidebar.Material {
	return sidebar.Material{ID: m.ID, Title: m.Title, Description: m.Description,
		Cover: m.Cover, Link: m.Link, RecordURL: base(ext) + "/materials/" + m.ID + "/sent"}
}

// listTasks is GET /sidebar/c/:ext/tasks: the employee's open promotion
// tasks, each with its material to send into this chat (sent through the
// same path as materials, so the task's figures count the send).
func (h *sidebarHandler) listTasks(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	if h.tasks == nil {
		h.fail(c, services.Errorf(services.ENOTFOUND, "推广任务功能未启用"))
		return
	}
	ts, err := h.tasks.Tasks(c.Request.Context(), viewerOf(c), ext)
	if err != nil {
		h.fail(c, err)
		return
	}
	vm := sidebar.TasksVM{}
	for _, t := range ts {
		vm.Tasks = append(vm.Tasks, sidebar.Task{ID: t.ID, Title: t.Title, Message: t.Message,
			Deadline: t.Deadline.In(sidebarTZ).Format("2006-01-02 15:04"), Material: materialVM(ext, t.Material)})
	}
	web.Render(c, http.StatusOK, sidebar.Tasks(vm))
}

// materialSent is POST /sidebar/c/:ext/materials/:material/sent, called by
// the script after ww.sendChatMessage succeeded: records material_sent.
func (h *sidebarHandler) materialSent(c *gin.Context) {
	ext, ok := h.idParam(c, "ext")
	if !ok {
		return
	}
	if h.materials == nil {
		h.fail(c, services.Errorf(services.ENOTFOUND, "素材功能未启用"))
		return
	}
	if err := h.materials.RecordMaterialSent(c.Request.Context(), viewerOf(c), ext, c.Param("material")); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
