package main

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pii"
)

// The sidebar's Tasks tab shows the employee's open promotion task with its
// material, and every link the sidebar hands out (materials and tasks) is
// signed with the employee, the chat's customer and the corp, so a
// submission through it links that customer.
func TestSidebarTasksTabAndAttributedLinks(t *testing.T) {
	app := startSidebarApp(t, sidebarOpts{noShim: true})
	app.employee(t, "alice", "张三")
	_, ext := app.customer(t, "alice", "客户甲", "")
	ctx := context.Background()
	form, err := app.Forms.CreateForm(ctx, services.FormInput{Title: "春季活动报名", Description: "填写手机号领取资料",
		ConsentText: "我同意隐私政策", PrivacyURL: "https://example.com/privacy", AfterSubmit: "message", Published: true}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	// Tasks belong to the connected corp (saved settings).
	box, err := pii.NewBox(map[byte][]byte{1: app.Key}, 1)
	if err != nil {
		t.Fatal(err)
	}
	settings := services.NewSettingsService(app.DB, box, services.NewAuditService(app.DB))
	if _, err := settings.SaveSandboxSettings(ctx, services.WeComSettings{CorpID: app.CorpID,
		AppMode: services.AppModeSelfBuilt, AgentID: 1000002, AgentSecret: "s", OAMessageMode: "safe"}); err != nil {
		t.Fatal(err)
	}
	alice := noRedirect()
	app.signIn(t, alice, "alice") // the sign-in records alice as an employee in the mirror
	admin := services.Operator{Kind: "local", ID: "1", CorpID: app.CorpID, Role: services.RoleAdmin}
	task, err := app.Tasks.CreateTask(ctx, admin, services.TaskInput{Title: "双十一推广", FormID: form.ID, Message: "请发给意向客户",
		Deadline: time.Now().Add(48 * time.Hour), TargetKind: "employees", TargetIDs: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Tasks.PublishTask(ctx, admin, task.ID); err != nil {
		t.Fatal(err)
	}

	status, profile := get(t, alice, app.URL+"/sidebar/c/"+ext, true)
	if status != 200 || !strings.Contains(profile, `data-testid="tab-tasks"`) {
		t.Fatalf("profile %d has no tasks tab", status)
	}
	status, tasks := get(t, alice, app.URL+"/sidebar/c/"+ext+"/tasks", true)
	if status != 200 || !strings.Contains(tasks, "双十一推广") || !strings.Contains(tasks, "请发给意向客户") {
		t.Fatalf("tasks tab %d: %s", status, tasks)
	}
	_, materials := get(t, alice, app.URL+"/sidebar/c/"+ext+"/materials", true)
	attr := services.NewAttributor(pii.DeriveKey(app.Key, "attribution"))
	for name, page := range map[string]string{"tasks": tasks, "materials": materials} {
		m := regexp.MustCompile(`data-link="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no link to send", name)
		}
		link, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil {
			t.Fatal(err)
		}
		a, ok := attr.Verify(link.Query().Get("a"), form.Slug)
		if !ok || a.EmployeeUserID != "alice" || a.ExternalUserID != ext || a.CorpID != app.CorpID {
			t.Fatalf("%s link attribution %+v (valid %v), want alice, %s, corp %s", name, a, ok, ext, app.CorpID)
		}
	}
}
