package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// Dashboard computes the start page's figures.
type Dashboard interface {
	Dashboard(ctx context.Context, v services.Operator) (services.Dashboard, error)
}

// dashboard is the console's start page: figures (when the dashboard
// service is wired) and the latest audited activity.
func (h *consoleHandler) dashboard(c *gin.Context) {
	vm := admin.HomeVM{Shell: adminShell(c, "概览", "/admin")}
	if h.Dashboard != nil {
		d, err := h.Dashboard.Dashboard(c.Request.Context(), operator(c))
		if err != nil {
			web.Fail(c, err)
			return
		}
		fillDashboard(&vm, d)
	}
	entries, err := h.audit.List(c.Request.Context(), services.AuditFilter{Limit: 20})
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm.Recent = auditRows(entries)
	web.Render(c, http.StatusOK, admin.HomePage(vm))
}

func fillDashboard(vm *admin.HomeVM, d services.Dashboard) {
	lag := "无积压"
	if d.InboxPending > 0 {
		lag = d.InboxLag.Round(time.Second).String()
	}
	sync := "尚未同步"
	if d.LastSync != nil {
		sync = d.LastSync.Local().Format("01-02 15:04")
	}
	vm.Stats = []admin.Stat{
		{Label: "营销用户", Value: strconv.Itoa(d.LiveUsers), Note: fmt.Sprintf("近 7 天新增 %d", d.NewUsers7d), TestID: "stat-users"},
		{Label: "近 7 天合并", Value: strconv.Itoa(d.Merges7d), Note: fmt.Sprintf("拆分 %d，待处理冲突 %d", d.Splits7d, d.OpenConflicts), TestID: "stat-merges"},
		{Label: "回调积压", Value: strconv.Itoa(d.InboxPending), Note: "最久等待 " + lag, Warn: d.InboxLag > 5*time.Minute, TestID: "stat-inbox"},
		{Label: "死信", Value: strconv.Itoa(d.DeadLetters), Note: "处理失败、已停止重试的回调", Warn: d.DeadLetters > 0, TestID: "stat-dead"},
		{Label: "最近同步", Value: sync, Note: "通讯录与客户镜像", TestID: "stat-sync"},
		{Label: "已归档 / 已删除", Value: fmt.Sprintf("%d / %d", d.Archived, d.Erasures), Note: "不活跃归档与应请求删除", TestID: "stat-lifecycle"},
	}
	vm.Registrations = dayBars(d.Registrations)
	vm.NewUsers = dayBars(d.NewUsersByDay)
	values := make([]int, len(d.ByChannel))
	for i, c := range d.ByChannel {
		values[i] = c.Count
	}
	for _, c := range d.ByChannel {
		vm.ByChannel = append(vm.ByChannel, admin.Bar{Label: c.Channel, Value: c.Count, Step: step(c.Count, values)})
	}
}

func dayBars(days []services.DayCount) []admin.Bar {
	values := make([]int, len(days))
	for i, d := range days {
		values[i] = d.Count
	}
	var bars []admin.Bar
	for _, d := range days {
		bars = append(bars, admin.Bar{Label: d.Day.Local().Format("01-02"), Value: d.Count, Step: step(d.Count, values)})
	}
	return bars
}

// step is v as a share of the largest of all, rounded to a multiple of 5
// (the .ma-pNN classes); any non-zero value shows at least 5.
func step(v int, all []int) int {
	top := 0
	for _, x := range all {
		top = max(top, x)
	}
	if top == 0 || v <= 0 {
		return 0
	}
	return max(5, (v*100/top+2)/5*5)
}
