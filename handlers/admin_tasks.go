package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// PromotionTasks is what the console needs of promotion tasks.
type PromotionTasks interface {
	Tasks(ctx context.Context, v services.Operator) ([]services.Task, error)
	Materials(ctx context.Context, v services.Operator) ([]services.Form, error)
	CreateTask(ctx context.Context, v services.Operator, in services.TaskInput) (services.Task, error)
	PublishTask(ctx context.Context, v services.Operator, id int64) (services.Task, error)
	TaskReport(ctx context.Context, v services.Operator, id int64) (services.TaskReport, error)
}

func (h *consoleHandler) registerTasks(g *gin.RouterGroup) {
	if h.Tasks == nil {
		return
	}
	g.GET("/tasks", h.listTasks)
	g.GET("/tasks/new", h.newTask)
	g.POST("/tasks", h.createTask)
	g.GET("/tasks/:id", h.showTask)
	g.POST("/tasks/:id/publish", h.publishTask)
}

func (h *consoleHandler) listTasks(c *gin.Context) {
	ts, err := h.Tasks.Tasks(c.Request.Context(), operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.TasksVM{Shell: adminShell(c, "推广任务", "/admin/tasks"), CanCreate: currentAdmin(c).Role == services.RoleAdmin}
	for _, t := range ts {
		vm.Tasks = append(vm.Tasks, taskRow(t))
	}
	web.Render(c, http.StatusOK, admin.TasksPage(vm))
}

func taskRow(t services.Task) admin.TaskRowVM {
	status := map[string][2]string{"draft": {"草稿", "info"}, "publishing": {"发送中", "warn"},
		"published": {"已发布", "ok"}, "failed": {"发送失败", "danger"}}[t.Status]
	target := map[string]string{services.TargetEveryone: "全部员工", services.TargetDepartments: "指定部门",
		services.TargetEmployees: "指定员工", services.TargetSegment: "人群的跟进员工"}[t.TargetKind]
	return admin.TaskRowVM{ID: t.ID, Title: t.Title, Material: t.MaterialTitle, Deadline: t.Deadline.Local().Format("2006-01-02 15:04"),
		Status: status[0], StatusKind: status[1], Target: target, Targets: t.Targets}
}

func (h *consoleHandler) newTask(c *gin.Context) {
	vm := admin.TaskFormVM{Target: services.TargetEveryone,
		Deadline: time.Now().Add(7 * 24 * time.Hour).Format("2006-01-02T15:04")}
	h.renderTaskForm(c, http.StatusOK, vm, nil, nil)
}

// renderTaskForm fills the form's choices around vm (what was typed).
func (h *consoleHandler) renderTaskForm(c *gin.Context, status int, vm admin.TaskFormVM, picked map[string]bool, formErr error) {
	ctx, v := c.Request.Context(), operator(c)
	forms, err := h.Tasks.Materials(ctx, v)
	if err != nil {
		web.Fail(c, err)
		return
	}
	staff, err := h.Staff.Employees(ctx, v)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm.Shell = adminShell(c, "新建推广任务", "/admin/tasks")
	for _, f := range forms {
		id := strconv.FormatInt(f.ID, 10)
		vm.Materials = append(vm.Materials, admin.Option{Value: id, Label: f.Title, Selected: picked["form:"+id]})
	}
	for _, d := range staff.Departments {
		id := strconv.FormatInt(d.ID, 10)
		vm.Departments = append(vm.Departments, admin.Option{Value: id, Label: d.Name, Selected: picked["dept:"+id]})
	}
	for _, e := range staff.Employees {
		vm.Employees = append(vm.Employees, admin.Option{Value: e.UserID, Label: e.Name, Selected: picked["user:"+e.UserID]})
	}
	if vm.Segments, err = h.segmentOptions(ctx, picked); err != nil {
		web.Fail(c, err)
		return
	}
	if formErr != nil {
		vm.Error, vm.Fields = services.ErrorMessage(formErr), services.ErrorFields(formErr)
	}
	web.Render(c, status, admin.TaskFormPage(vm))
}

func (h *consoleHandler) createTask(c *gin.Context) {
	in := services.TaskInput{Title: c.PostForm("title"), Message: c.PostForm("message"), TargetKind: c.PostForm("target")}
	in.FormID, _ = strconv.ParseInt(c.PostForm("form"), 10, 64)
	in.Deadline, _ = time.ParseInLocation("2006-01-02T15:04", c.PostForm("deadline"), time.Local)
	picked := map[string]bool{"form:" + c.PostForm("form"): true}
	switch in.TargetKind {
	case services.TargetEmployees:
		in.TargetIDs = c.PostFormArray("employee")
	case services.TargetDepartments:
		in.TargetIDs = c.PostFormArray("department")
	case services.TargetSegment:
		in.TargetIDs = []string{c.PostForm("segment")}
		picked["seg:"+c.PostForm("segment")] = true
	}
	for _, id := range c.PostFormArray("employee") {
		picked["user:"+id] = true
	}
	for _, id := range c.PostFormArray("department") {
		picked["dept:"+id] = true
	}
	t, err := h.Tasks.CreateTask(c.Request.Context(), operator(c), in)
	if services.ErrorCode(err) == services.EINVALID {
		vm := admin.TaskFormVM{Title: in.Title, Message: in.Message, Deadline: c.PostForm("deadline"), Target: in.TargetKind}
		h.renderTaskForm(c, http.StatusUnprocessableEntity, vm, picked, err)
		return
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	seeOther(c, "/admin/tasks/"+strconv.FormatInt(t.ID, 10))
}

func (h *consoleHandler) showTask(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	var flash *admin.Flash
	if c.Query("published") != "" {
		flash = &admin.Flash{Kind: "success", Text: "已发布，员工将在企业微信收到任务通知"}
	}
	h.renderTask(c, id, http.StatusOK, flash)
}

func (h *consoleHandler) renderTask(c *gin.Context, id int64, status int, flash *admin.Flash) {
	r, err := h.Tasks.TaskReport(c.Request.Context(), operator(c), id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.TaskVM{Shell: adminShell(c, "推广任务", "/admin/tasks"), Task: taskRow(r.Task), Message: r.Message,
		MaterialURL: r.MaterialURL, LastError: r.LastError, Sent: r.Sent, Opened: r.Opened, Registered: r.Registered, Flash: flash,
		CanPublish: currentAdmin(c).Role == services.RoleAdmin && (r.Status == "draft" || r.Status == "failed")}
	values := make([]int, len(r.Employees))
	for i, e := range r.Employees {
		values[i] = e.Registered
	}
	for i, e := range r.Employees {
		vm.Board = append(vm.Board, admin.BoardRowVM{Rank: i + 1, Name: e.Name, UserID: e.UserID, Delivered: e.Delivered,
			Sent: e.Sent, Opened: e.Opened, Registered: e.Registered})
		if i < 15 {
			vm.Chart = append(vm.Chart, admin.Bar{Label: e.Name, Value: e.Registered, Step: step(e.Registered, values)})
		}
	}
	web.Render(c, status, admin.TaskPage(vm))
}

func (h *consoleHandler) publishTask(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	_, err := h.Tasks.PublishTask(c.Request.Context(), operator(c), id)
	switch code := services.ErrorCode(err); code {
	case "":
		seeOther(c, "/admin/tasks/"+strconv.FormatInt(id, 10)+"?published=1")
	case services.EINVALID, services.EUNAVAILABLE, services.ECONFLICT:
		msg := services.ErrorMessage(err)
		for _, f := range services.ErrorFields(err) {
			msg = f
		}
		h.renderTask(c, id, web.Status(code), &admin.Flash{Kind: "error", Text: msg})
	default:
		web.Fail(c, err)
	}
}
