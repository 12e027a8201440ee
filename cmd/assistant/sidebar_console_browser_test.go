package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// What the console does reaches the employee's sidebar, in chromium: a
// published promotion task shows in the Tasks tab with its material to send,
// and a member level set in the console shows on the member chip.
func TestConsoleTaskAndLevelInSidebarBrowser(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{})
	app.employee(t, "alice", "张三")
	_, ext := app.customer(t, "alice", "客户甲", "")
	ctx0 := context.Background()
	box, err := pii.NewBox(map[byte][]byte{1: app.Key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := services.NewSettingsService(app.DB, box, services.NewAuditService(app.DB)).SaveSandboxSettings(ctx0,
		services.WeComSettings{CorpID: app.CorpID, AppMode: services.AppModeSelfBuilt, AgentID: 1000002, AgentSecret: "s",
			OAMessageMode: "safe"}); err != nil {
		t.Fatal(err)
	}
	if err := app.SB.SetSidebarContext(sandbox.SidebarContext{Entry: "single_chat_tools", UserID: "alice", ExternalUserID: ext}); err != nil {
		t.Fatal(err)
	}
	ctx := browsertest.New(t, "", 90*time.Second)
	browserSignIn(t, ctx, app, "alice") // records alice in the mirror, so the task can target her

	form, err := app.Forms.CreateForm(ctx0, services.FormInput{Title: "春季活动报名", ConsentText: "我同意隐私政策",
		PrivacyURL: "https://example.com/privacy", AfterSubmit: "message", Published: true}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	admin := services.Operator{Kind: "local", ID: "1", CorpID: app.CorpID, Role: services.RoleAdmin}
	task, err := app.Tasks.CreateTask(ctx0, admin, services.TaskInput{Title: "双十一推广", FormID: form.ID, Message: "请发给意向客户",
		Deadline: time.Now().Add(48 * time.Hour), TargetKind: "employees", TargetIDs: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Tasks.PublishTask(ctx0, admin, task.ID); err != nil {
		t.Fatal(err)
	}
	if len(app.SB.Outbox(sandbox.OutboxAppMessage)) != 1 {
		t.Fatalf("task message not in the sandbox outbox: %+v", app.SB.Outbox(sandbox.OutboxAppMessage))
	}
	r, err := app.IDs.Link(ctx0, services.Observation{Source: "crm", Ref: "crm:M-7", Identities: []services.IdentityInput{
		{Kind: services.KindExternalUserID, Scope: app.CorpID, Key: ext}, {Kind: services.KindMember, Scope: "crm", Key: "M-7"}}})
	if err != nil {
		t.Fatal(err)
	}
	members := services.NewMemberService(app.DB, services.NewAuditService(app.DB))
	if _, err := members.AdjustGrowth(ctx0, admin, r.UserID, 1200, "活动奖励"); err != nil {
		t.Fatal(err)
	}

	var chips, tasks string
	taskSel := `[data-testid="task-` + strconv.FormatInt(task.ID, 10) + `"]`
	err = chromedp.Run(ctx,
		chromedp.Navigate(app.URL+"/sidebar"),
		visible(`#ma-main [data-testid="profile"]`),
		chromedp.Text(`[data-testid="chips"]`, &chips, chromedp.ByQuery),
		chromedp.Click(`[data-testid="tab-tasks"]`, chromedp.ByQuery),
		chromedp.WaitVisible(taskSel, chromedp.ByQuery),
		chromedp.Text(taskSel, &tasks, chromedp.ByQuery),
	)
	if err != nil {
		browsertest.Screenshot(t, ctx, "sidebar-tasks")
		t.Fatal(err)
	}
	if !strings.Contains(chips, "银卡会员") {
		t.Errorf("member level not on the chips: %q", chips)
	}
	if !strings.Contains(tasks, "双十一推广") || !strings.Contains(tasks, "请发给意向客户") {
		t.Errorf("task tab: %q", tasks)
	}
}
