package handlers

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// WeCom's task statuses and the customers' (4: refused when the task was created).
var (
	massTaskStatus = map[int][2]string{-1: {"未创建", "danger"}, 0: {"待员工确认", "warn"}, 1: {"员工已发送", "ok"}, 2: {"已取消或过期", "info"}}
	massCustStatus = map[int][2]string{0: {"未发送", "warn"}, 1: {"已发送", "ok"}, 2: {"非好友", "danger"},
		3: {"已达上限", "danger"}, 4: {"创建时被拒", "danger"}}
)

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.In(chinaTZ).Format("2006-01-02 15:04")
}

// renderMass shows a message: the preview while it can still be sent, the
// results once it was.
func (h *consoleHandler) renderMass(c *gin.Context, id int64, status int, flash *admin.Flash) {
	ctx, v := c.Request.Context(), operator(c)
	r, err := h.MassMessages.MassMessageReport(ctx, v, id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	isAdmin := currentAdmin(c).Role == services.RoleAdmin
	st := massStatus[r.Status]
	vm := admin.MassVM{Shell: adminShell(c, "企微群发", "/admin/massmsg"), Flash: flash, ID: r.ID, Title: r.Title,
		Segment: r.SegmentName, Text: r.Text, Attachment: massAttachment(r.MassMessage), Status: st[0], StatusKind: st[1],
		LastError: r.LastError, Sent: r.Status == "sent" || r.Status == "sending", Excluded: r.ExcludedWeek,
		CanSend: isAdmin && (r.Status == "draft" || r.Status == "failed"), CanRefresh: isAdmin && r.Status == "sent"}
	if !vm.Sent {
		plan, err := h.MassMessages.Preview(ctx, v, id)
		if err != nil && services.ErrorCode(err) != services.EINVALID {
			web.Fail(c, err)
			return
		}
		fillPlan(&vm, plan, err)
	} else {
		fillResults(&vm, r)
	}
	web.Render(c, status, admin.MassPage(vm))
}

func massAttachment(m services.MassMessage) string {
	switch m.AttachKind {
	case services.AttachForm:
		return "表单链接「" + m.FormTitle + "」"
	case services.AttachMiniProgram:
		return "小程序卡片「" + m.MPTitle + "」" + m.MPPage
	}
	return "无"
}

func fillPlan(vm *admin.MassVM, p services.MassPlan, planErr error) {
	if planErr != nil {
		vm.LastError, vm.CanSend = services.ErrorMessage(planErr), false
		for _, f := range services.ErrorFields(planErr) {
			vm.LastError = f
		}
		return
	}
	vm.SegmentUsers, vm.Customers, vm.Excluded, vm.Recipients = p.SegmentUsers, p.Customers, p.Excluded, p.Recipients
	for _, e := range p.Employees {
		vm.Plan = append(vm.Plan, admin.MassPlanRowVM{Name: e.Name, UserID: e.UserID, Customers: e.Customers, Batches: e.Batches})
	}
}

func fillResults(vm *admin.MassVM, r services.MassReport) {
	if r.RefreshedAt != nil {
		vm.Refreshed = "结果更新于 " + timeOrDash(r.RefreshedAt)
	}
	values := []int{r.Totals[1], r.Totals[0], r.Totals[2], r.Totals[3], r.Totals[4]}
	for i, k := range []int{1, 0, 2, 3, 4} {
		vm.Totals = append(vm.Totals, admin.Bar{Label: massCustStatus[k][0], Value: values[i], Step: step(values[i], values)})
	}
	for _, s := range r.Senders {
		st := massTaskStatus[s.Status]
		vm.Senders = append(vm.Senders, admin.MassSenderVM{Name: s.Name, UserID: s.UserID, Status: st[0], StatusKind: st[1],
			SendTime: timeOrDash(s.SendTime), Error: s.ErrMsg, Customers: s.Customers, Sent: s.Sent, NotFriend: s.NotFriend,
			AtLimit: s.AtLimit, Refused: s.Refused})
	}
	for _, x := range r.Recipients {
		st := massCustStatus[x.Status]
		vm.Customers2 = append(vm.Customers2, admin.MassRecipientVM{Name: x.Name, ExternalUserID: x.ExternalUserID,
			Employee: x.UserID, Status: st[0], StatusKind: st[1], SendTime: timeOrDash(x.SendTime)})
	}
}

// The timeline names a received mass message and its channel.
func init() {
	momentLabels["mass_message_received"] = "收到企业群发"
	channelLabels["massmsg"] = "企微群发"
}
