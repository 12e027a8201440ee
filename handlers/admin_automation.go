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

// AutomationRules is what the console needs of automation rules; every
// method checks the operator's role itself.
type AutomationRules interface {
	Rules(ctx context.Context, v services.Operator) ([]services.AutomationRule, error)
	Rule(ctx context.Context, v services.Operator, id int64) (services.AutomationRule, error)
	Executions(ctx context.Context, v services.Operator, id int64, limit int) ([]services.AutomationExecution, error)
	Choices(ctx context.Context, v services.Operator) (services.AutomationChoices, error)
	CreateRule(ctx context.Context, v services.Operator, in services.AutomationRuleInput) (services.AutomationRule, error)
	UpdateRule(ctx context.Context, v services.Operator, id int64, in services.AutomationRuleInput) error
	SetRuleEnabled(ctx context.Context, v services.Operator, id int64, on bool) error
	DeleteRule(ctx context.Context, v services.Operator, id int64) error
}

func init() {
	// the sidebar's timeline names what a rule did like any other moment
	momentLabels[services.KindAutomationAction] = "自动化"
	channelLabels["automation"] = "自动化规则"
}

func (h *consoleHandler) registerAutomation(g *gin.RouterGroup) {
	if h.Automation == nil {
		return
	}
	g.GET("/automation", h.listRules)
	g.GET("/automation/new", h.newRule)
	g.POST("/automation", h.createRule)
	g.GET("/automation/:id", h.showRule)
	g.GET("/automation/:id/edit", h.editRule)
	g.POST("/automation/:id", h.updateRule)
	g.POST("/automation/:id/enable", h.enableRule)
	g.POST("/automation/:id/delete", h.deleteRule)
}

func (h *consoleHandler) listRules(c *gin.Context) {
	rs, err := h.Automation.Rules(c.Request.Context(), operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.AutomationListVM{Shell: adminShell(c, "自动化规则", "/admin/automation"), IsAdmin: isAdmin(c)}
	switch {
	case c.Query("saved") != "":
		vm.Flash = &admin.Flash{Kind: "success", Text: "规则已保存"}
	case c.Query("deleted") != "":
		vm.Flash = &admin.Flash{Kind: "success", Text: "规则已删除"}
	}
	for _, r := range rs {
		vm.Rules = append(vm.Rules, ruleRow(r))
	}
	web.Render(c, http.StatusOK, admin.AutomationListPage(vm))
}

func isAdmin(c *gin.Context) bool { return currentAdmin(c).Role == services.RoleAdmin }

func (h *consoleHandler) showRule(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	ctx, v := c.Request.Context(), operator(c)
	r, err := h.Automation.Rule(ctx, v, id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	xs, err := h.Automation.Executions(ctx, v, id, 100)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.AutomationRuleVM{Shell: adminShell(c, "自动化规则", "/admin/automation"), Rule: ruleRow(r), IsAdmin: isAdmin(c)}
	for _, x := range xs {
		vm.Executions = append(vm.Executions, executionRow(x))
	}
	web.Render(c, http.StatusOK, admin.AutomationRulePage(vm))
}

func (h *consoleHandler) newRule(c *gin.Context) {
	vm := admin.AutomationFormVM{Title: "新建自动化规则", Action: "/admin/automation", Enabled: true, Max: "500"}
	h.renderRuleForm(c, http.StatusOK, vm, services.AutomationRuleInput{MomentKind: "form_submitted", Action: services.ActionTag}, nil)
}

func (h *consoleHandler) editRule(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if !isAdmin(c) {
		web.Fail(c, services.Errorf(services.EFORBIDDEN, "只有管理员可以编辑规则"))
		return
	}
	r, err := h.Automation.Rule(c.Request.Context(), operator(c), id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	in := services.AutomationRuleInput{Name: r.Name, MomentKind: r.MomentKind, Channel: r.Channel, Action: r.Action,
		TagID: r.TagID, Employees: r.Employees, MaxPerEmployee: r.MaxPerEmployee, Points: r.Points, Enabled: r.Enabled}
	if r.FormID != nil {
		in.FormID = *r.FormID
	}
	h.renderRuleForm(c, http.StatusOK, ruleFormVM(id, in), in, nil)
}

func ruleFormVM(id int64, in services.AutomationRuleInput) admin.AutomationFormVM {
	vm := admin.AutomationFormVM{Title: "新建自动化规则", Action: "/admin/automation", Name: in.Name, Channel: in.Channel,
		Max: strconv.Itoa(in.MaxPerEmployee), Points: strconv.Itoa(in.Points), Enabled: in.Enabled}
	if id != 0 {
		vm.Title, vm.Action = "编辑自动化规则", "/admin/automation/"+strconv.FormatInt(id, 10)
	}
	if in.Points == 0 {
		vm.Points = ""
	}
	return vm
}

// ruleInput reads the editor's fields.
func ruleInput(c *gin.Context) services.AutomationRuleInput {
	in := services.AutomationRuleInput{Name: c.PostForm("name"), MomentKind: services.MomentKind(c.PostForm("kind")),
		Channel: c.PostForm("channel"), Action: c.PostForm("action"), TagID: c.PostForm("tag"),
		Employees: c.PostFormArray("employee"), Enabled: c.PostForm("enabled") == "1"}
	in.FormID, _ = strconv.ParseInt(c.PostForm("form"), 10, 64)
	in.MaxPerEmployee, _ = strconv.Atoi(strings.TrimSpace(c.PostForm("max")))
	in.Points, _ = strconv.Atoi(strings.TrimSpace(c.PostForm("points")))
	return in
}

func (h *consoleHandler) createRule(c *gin.Context) {
	in := ruleInput(c)
	_, err := h.Automation.CreateRule(c.Request.Context(), operator(c), in)
	h.afterSave(c, 0, in, err)
}

func (h *consoleHandler) updateRule(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	in := ruleInput(c)
	err := h.Automation.UpdateRule(c.Request.Context(), operator(c), id, in)
	h.afterSave(c, id, in, err)
}

// afterSave redirects to the list, or shows the editor again with what was
// typed and why it was refused.
func (h *consoleHandler) afterSave(c *gin.Context, id int64, in services.AutomationRuleInput, err error) {
	if services.ErrorCode(err) == services.EINVALID {
		vm := ruleFormVM(id, in)
		vm.Max, vm.Points = c.PostForm("max"), c.PostForm("points")
		h.renderRuleForm(c, http.StatusUnprocessableEntity, vm, in, err)
		return
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/automation?saved=1")
}

// renderRuleForm fills the editor's choices around vm.
func (h *consoleHandler) renderRuleForm(c *gin.Context, status int, vm admin.AutomationFormVM, in services.AutomationRuleInput, formErr error) {
	ch, err := h.Automation.Choices(c.Request.Context(), operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm.Shell = adminShell(c, vm.Title, "/admin/automation")
	fillRuleChoices(&vm, ch, in)
	if formErr != nil {
		vm.Error, vm.Fields = services.ErrorMessage(formErr), services.ErrorFields(formErr)
	}
	web.Render(c, status, admin.AutomationFormPage(vm))
}

func fillRuleChoices(vm *admin.AutomationFormVM, ch services.AutomationChoices, in services.AutomationRuleInput) {
	for _, k := range services.MomentKinds {
		if k != services.KindAutomationAction {
			vm.Kinds = append(vm.Kinds, admin.Option{Value: string(k), Label: kindLabel(k), Selected: k == in.MomentKind})
		}
	}
	for _, a := range services.AutomationActions {
		vm.Actions = append(vm.Actions, admin.Option{Value: a, Label: actionLabels[a], Selected: a == in.Action})
	}
	for _, f := range ch.Forms {
		vm.Forms = append(vm.Forms, admin.Option{Value: strconv.FormatInt(f.ID, 10), Label: f.Title, Selected: f.ID == in.FormID})
	}
	for _, t := range ch.Tags {
		vm.Tags = append(vm.Tags, admin.Option{Value: t.ID, Label: t.Group + " / " + t.Name, Selected: t.ID == in.TagID})
	}
	picked := map[string]bool{}
	for _, e := range in.Employees {
		picked[e] = true
	}
	for _, e := range ch.Employees {
		vm.Employees = append(vm.Employees, admin.Option{Value: e.UserID, Label: e.Name, Selected: picked[e.UserID]})
	}
}

func (h *consoleHandler) enableRule(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if err := h.Automation.SetRuleEnabled(c.Request.Context(), operator(c), id, c.PostForm("on") == "1"); err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/automation?saved=1")
}

func (h *consoleHandler) deleteRule(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if err := h.Automation.DeleteRule(c.Request.Context(), operator(c), id); err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/automation?deleted=1")
}
