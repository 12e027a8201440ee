package handlers

import (
	"fmt"
	"strconv"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
)

var actionLabels = map[string]string{services.ActionTag: "打企业标签", services.ActionNotify: "应用消息通知跟进员工",
	services.ActionAssign: "分配给负载最低的员工", services.ActionGrowth: "增加会员成长值"}

var executionStates = map[string][2]string{"pending": {"排队中", "info"}, "done": {"已执行", "ok"},
	"skipped": {"跳过", "warn"}, "failed": {"失败", "danger"}}

// kindLabel names a moment kind in Chinese (the sidebar's labels).
func kindLabel(k services.MomentKind) string {
	if l := momentLabels[k]; l != "" {
		return l
	}
	return string(k)
}

func ruleRow(r services.AutomationRule) admin.AutomationRowVM {
	trigger := kindLabel(r.MomentKind)
	if r.FormID != nil {
		trigger += fmt.Sprintf("（表单「%s」）", r.FormTitle)
	}
	if r.Channel != "" {
		trigger += "（渠道 " + r.Channel + "）"
	}
	return admin.AutomationRowVM{ID: r.ID, Name: r.Name, Trigger: trigger, Action: ruleAction(r), Enabled: r.Enabled,
		Fired: r.Fired, Skipped: r.Skipped, Failed: r.Failed, Queued: r.Pending}
}

func ruleAction(r services.AutomationRule) string {
	switch r.Action {
	case services.ActionTag:
		return "打企业标签「" + r.TagName + "」"
	case services.ActionAssign:
		return fmt.Sprintf("在 %d 名员工中分配给负载最低者（每人上限 %d）", len(r.Employees), r.MaxPerEmployee)
	case services.ActionGrowth:
		return fmt.Sprintf("增加 %d 成长值", r.Points)
	}
	return actionLabels[r.Action]
}

func executionRow(x services.AutomationExecution) admin.AutomationExecutionVM {
	st := executionStates[x.State]
	vm := admin.AutomationExecutionVM{At: x.CreatedAt.Local().Format("2006-01-02 15:04:05"), Moment: x.MomentTitle,
		State: st[0], StateKind: st[1], Outcome: x.Outcome, Attempts: x.Attempts, Errcode: x.Errcode}
	if vm.Moment == "" {
		vm.Moment = "动态 #" + strconv.FormatInt(x.MomentID, 10)
	}
	if x.UserID != 0 {
		vm.UserURL = "/admin/users/" + strconv.FormatInt(x.UserID, 10)
	}
	return vm
}
