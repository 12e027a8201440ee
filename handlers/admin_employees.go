package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

func (h *consoleHandler) listEmployees(c *gin.Context) {
	var flash *admin.Flash
	if c.Query("saved") != "" {
		flash = &admin.Flash{Kind: "success", Text: "角色已保存"}
	}
	h.renderEmployees(c, http.StatusOK, flash)
}

func (h *consoleHandler) renderEmployees(c *gin.Context, status int, flash *admin.Flash) {
	p, err := h.Staff.Employees(c.Request.Context(), operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.EmployeesVM{Shell: adminShell(c, "员工", "/admin/employees"), OnBehalf: p.AppMode == "on_behalf",
		LastSync: "尚未同步", Flash: flash}
	if p.LastSync != nil {
		vm.LastSync = p.LastSync.Local().Format("2006-01-02 15:04")
	}
	for _, d := range p.Departments {
		vm.Departments = append(vm.Departments, admin.Option{Value: strconv.FormatInt(d.ID, 10), Label: d.Name})
	}
	for _, e := range p.Employees {
		vm.Employees = append(vm.Employees, employeeVM(e))
	}
	web.Render(c, status, admin.EmployeesPage(vm))
}

func employeeVM(e services.StaffRow) admin.EmployeeVM {
	statuses := map[int]string{1: "已激活", 2: "已禁用", 4: "未激活", 5: "已退出"}
	vm := admin.EmployeeVM{UserID: e.UserID, Name: e.Name, Position: e.Position, Departments: strings.Join(e.Departments, "、"),
		Status: statuses[e.Status], InVisibleRange: e.InVisibleRange, CustomerAccess: e.CustomerAccess,
		LastSidebar: "从未使用", Role: e.Role, Customers: e.Customers}
	if e.LastSidebarAt != nil {
		vm.LastSidebar = e.LastSidebarAt.Local().Format("2006-01-02 15:04")
	}
	ids := make([]string, len(e.RoleDepts))
	for i, d := range e.RoleDepts {
		ids[i] = strconv.FormatInt(d, 10)
	}
	vm.RoleDepartments = strings.Join(ids, ",")
	return vm
}

func (h *consoleHandler) setRole(c *gin.Context) {
	depts, err := services.ParseIDs("departments", c.PostForm("departments"))
	if err == nil {
		err = h.Staff.SetRole(c.Request.Context(), operator(c), c.Param("userid"), c.PostForm("role"), depts)
	}
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, "/admin/employees?saved=1")
	case services.EINVALID:
		msg := services.ErrorMessage(err)
		for _, f := range services.ErrorFields(err) {
			msg = f
		}
		h.renderEmployees(c, http.StatusUnprocessableEntity, &admin.Flash{Kind: "error", Text: msg})
	default:
		web.Fail(c, err)
	}
}
