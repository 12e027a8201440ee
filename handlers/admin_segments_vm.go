package handlers

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// chinaTZ is the console's clock (the corp's users are in China).
var chinaTZ = chinaDay

// segmentKinds are the identity kinds offered in the segment form, in the
// order people think of them.
var segmentKinds = []services.IdentityKind{services.KindExternalUserID, services.KindOAOpenID, services.KindPhone,
	services.KindUnionID, services.KindMPOpenID, services.KindMember, services.KindCRMContact, services.KindCRMLead}

// renderSegmentForm shows the form with its choices and the current count.
func (h *consoleHandler) renderSegmentForm(c *gin.Context, status int, action string, in services.SegmentInput, formErr error) {
	ctx := c.Request.Context()
	ch, err := h.Segments.Choices(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	title := "新建人群"
	if action != "/admin/segments" {
		title = "编辑人群"
	}
	f := in.Filter
	vm := admin.SegmentFormVM{Shell: adminShell(c, title, "/admin/segments"), Action: action, Name: in.Name,
		FormMode: f.FormMode, InactiveSince: f.InactiveSince}
	if f.ActiveWithinDays != 0 {
		vm.ActiveDays = strconv.Itoa(f.ActiveWithinDays)
	}
	known := map[string]bool{}
	for _, t := range ch.Tags {
		label := t.Name
		if t.Group != "" {
			label = t.Group + " / " + t.Name
		}
		vm.Tags = append(vm.Tags, admin.Option{Value: t.ID, Label: label, Selected: slices.Contains(f.TagIDs, t.ID)})
		vm.ExcludeTags = append(vm.ExcludeTags, admin.Option{Value: t.ID, Label: label, Selected: slices.Contains(f.ExcludeTagIDs, t.ID)})
	}
	for _, x := range ch.Channels {
		known[x.Slug] = true
		vm.Channels = append(vm.Channels, admin.Option{Value: x.Slug, Label: x.Title + "（" + x.Slug + "）", Selected: slices.Contains(f.Channels, x.Slug)})
	}
	var other []string
	for _, x := range f.Channels {
		if !known[x] {
			other = append(other, x)
		}
	}
	vm.ChannelOther = strings.Join(other, ", ")
	for _, k := range segmentKinds {
		vm.HasKinds = append(vm.HasKinds, admin.Option{Value: string(k), Label: identityLabels[k], Selected: slices.Contains(f.HasKinds, string(k))})
		vm.LacksKinds = append(vm.LacksKinds, admin.Option{Value: string(k), Label: identityLabels[k], Selected: slices.Contains(f.LacksKinds, string(k))})
	}
	for _, l := range ch.Levels {
		vm.Levels = append(vm.Levels, admin.Option{Value: strconv.FormatInt(l.ID, 10), Label: l.Name, Selected: slices.Contains(f.LevelIDs, l.ID)})
	}
	for _, fm := range ch.Forms {
		vm.Forms = append(vm.Forms, admin.Option{Value: strconv.FormatInt(fm.ID, 10), Label: fm.Title, Selected: fm.ID == f.FormID})
	}
	if formErr != nil {
		vm.Error, vm.Fields = services.ErrorMessage(formErr), services.ErrorFields(formErr)
	}
	vm.Count = h.segmentCount(c, f)
	web.Render(c, status, admin.SegmentFormPage(vm))
}

func (h *consoleHandler) segmentCount(c *gin.Context, f services.SegmentFilter) admin.SegmentCountVM {
	n, err := h.Segments.Count(c.Request.Context(), f)
	if err != nil {
		return admin.SegmentCountVM{Error: services.ErrorMessage(err)}
	}
	return admin.SegmentCountVM{N: n}
}

// segmentSummary says in words what a filter selects.
func segmentSummary(f services.SegmentFilter) string {
	var parts []string
	add := func(ok bool, s string) {
		if ok {
			parts = append(parts, s)
		}
	}
	add(len(f.TagIDs) > 0, strconv.Itoa(len(f.TagIDs))+" 个标签之一")
	add(len(f.ExcludeTagIDs) > 0, "排除 "+strconv.Itoa(len(f.ExcludeTagIDs))+" 个标签")
	add(len(f.Channels) > 0, "渠道 "+strings.Join(f.Channels, "、"))
	for _, k := range f.HasKinds {
		parts = append(parts, "有"+identityLabels[services.IdentityKind(k)])
	}
	for _, k := range f.LacksKinds {
		parts = append(parts, "无"+identityLabels[services.IdentityKind(k)])
	}
	add(len(f.LevelIDs) > 0, strconv.Itoa(len(f.LevelIDs))+" 个会员等级")
	add(f.FormID > 0 && f.FormMode == services.FormRegistered, "已报名表单 #"+strconv.FormatInt(f.FormID, 10))
	add(f.FormID > 0 && f.FormMode == services.FormNotRegistered, "未报名表单 #"+strconv.FormatInt(f.FormID, 10))
	add(f.ActiveWithinDays > 0, strconv.Itoa(f.ActiveWithinDays)+" 天内活跃")
	add(f.InactiveSince != "", f.InactiveSince+" 起无活动")
	if len(parts) == 0 {
		return "全部营销用户"
	}
	return strings.Join(parts, "；")
}

// segmentOptions are the segments a promotion task can target (none when
// segments are not wired).
func (h *consoleHandler) segmentOptions(ctx context.Context, picked map[string]bool) ([]admin.Option, error) {
	if h.Segments == nil {
		return nil, nil
	}
	list, err := h.Segments.List(ctx)
	var out []admin.Option
	for _, s := range list {
		id := strconv.FormatInt(s.ID, 10)
		out = append(out, admin.Option{Value: id, Label: s.Name, Selected: picked["seg:"+id]})
	}
	return out, err
}
