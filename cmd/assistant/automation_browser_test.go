package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// An admin creates a rule in chromium ("a registration on this form assigns
// the customer to 张三"); a person registers on the form; the rule list
// shows it fired once and the customer's console page shows the assignment.
func TestAutomationRuleInBrowser(t *testing.T) {
	sb := startSharedSandbox(t, sandbox.SeedInput{Departments: 1, Employees: 1, WeChatUsers: 2, ContactsPerEmployee: 1})
	dsn := pgtest.NewDSN(t)
	db := pgtest.Open(t, dsn)
	sb.saveSettings(t, db)
	ctx := context.Background()
	audit := services.NewAuditService(db)
	if _, err := services.NewAdminService(db, audit).CreateAdmin(ctx, "ops", "correct horse battery", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	corp := sb.Options().Corp.CorpID
	db.MustExec(`INSERT INTO wecom_employees (corp_id, userid, name, departments) VALUES ($1, 'zhangsan', '张三', '{1}'), ($1, 'lisi', '李四', '{1}')`, corp)
	form, err := services.NewFormService(db, audit, "http://unused").CreateForm(ctx, services.FormInput{Title: "试驾报名",
		ConsentText: "我同意", PrivacyURL: "https://ma.example.com/privacy", SuccessMessage: "报名成功！", Published: true,
		Fields: []services.Field{{Kind: services.FieldName, Label: "姓名", Required: true}}}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	base := launchAutomationServer(t, deploymentEnv(dsn, sb.internal()))

	bctx := browsertest.New(t, "", 90*time.Second)
	f := &consoleFixture{url: base, password: "correct horse battery"}
	err = chromedp.Run(bctx,
		f.signIn("/admin/automation/new"),
		chromedp.SendKeys(`[data-testid="rule-name-input"]`, "试驾报名分配顾问"),
		chromedp.SetValue(`[data-testid="rule-kind"]`, "form_submitted"),
		chromedp.SetValue(`[data-testid="rule-form-select"]`, fmt.Sprint(form.ID)),
		chromedp.SetValue(`[data-testid="rule-action"]`, "assign"),
		chromedp.Click(`input[name="employee"][value="zhangsan"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, bctx, "automation-editor")
	err = chromedp.Run(bctx,
		navigateBy(`[data-testid="rule-save"]`, `[data-testid="rule-row"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	register(t, base, form.Slug, "13700002222")

	var fired, state string
	deadline := time.Now().Add(30 * time.Second)
	for fired != "1" && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		if err := chromedp.Run(bctx, chromedp.Reload(), chromedp.Text(`[data-testid="rule-fired"]`, &fired),
			chromedp.Text(`[data-testid="rule-state"]`, &state)); err != nil {
			t.Fatal(err)
		}
	}
	if fired != "1" || state != "启用" {
		t.Fatalf("rule list: fired %q, state %q", fired, state)
	}
	browsertest.Screenshot(t, bctx, "automation-rules")
	var user int64
	if err := db.Get(&user, `SELECT user_id FROM automation_assignments WHERE userid = 'zhangsan'`); err != nil {
		t.Fatal(err)
	}
	var page string
	if err := chromedp.Run(bctx, chromedp.Navigate(fmt.Sprintf("%s/admin/users/%d", base, user)),
		chromedp.Text(`body`, &page)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "自动分配给：张三") {
		t.Errorf("the console user page does not show the assignment")
	}
	browsertest.Screenshot(t, bctx, "automation-user")
}

// register submits the form as a person outside WeChat would.
func register(t *testing.T, base, slug, phone string) {
	t.Helper()
	b := newBrowser(t, "Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
	b.noAuto = true
	status, page := b.get(base + "/f/" + slug)
	if status != http.StatusOK {
		t.Fatalf("form page: %d", status)
	}
	v := submitValues(pageToken(t, page), "王五", phone, true)
	v.Set("cv", "1") // the consent version the page showed
	v.Del("f.c1")    // this form asks only the name
	if status, body, _ := b.do(http.MethodPost, base+"/f/"+slug, v); status != http.StatusSeeOther {
		t.Fatalf("register: %d %.200s", status, body)
	}
}
