package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
)

// Publishing sends one app message (a card with the material's link) to the
// receivers; the leaderboard counts the material's moments per employee.
func TestConsolePublishTaskAndFigures(t *testing.T) {
	sb, client := startWeComSandbox(t)
	env := newConsoleEnv(t)
	env.wechat.client = client
	path := "/admin/tasks/" + strconv.FormatInt(env.task, 10)

	msg := publishTask(t, env, sb, env.task)
	if msg.MsgType != "textcard" || !strings.Contains(msg.ToUser, "rep") || strings.Count(msg.ToUser, "|") != 3 ||
		!strings.HasSuffix(msg.TextCard.URL, "/f/springspringab23") {
		t.Fatalf("message: %+v", msg)
	}
	if w := env.do(http.MethodPost, path+"/publish", "admin", nil); w.Code != http.StatusConflict {
		t.Fatalf("second publish: %d", w.Code)
	}

	env.recordMaterial("rep", "material_sent", 2)
	env.recordMaterial("rep", "form_viewed", 1)
	env.recordMaterial("other", "form_submitted", 1)
	w := env.do(http.MethodGet, path, "manager", nil)
	body := w.Body.String()
	first := strings.Index(body, `data-testid="board-row"`)
	if w.Code != http.StatusOK || first < 0 || !strings.Contains(body[first:first+400], "other") {
		t.Fatalf("leaderboard: %d", w.Code)
	}
	for id, want := range map[string]string{"total-sent": "2", "total-opened": "1", "total-registered": "1"} {
		if !strings.Contains(body, `data-testid="`+id+`">`+want+`<`) {
			t.Errorf("%s is not %s", id, want)
		}
	}
	open, err := env.tasks.OpenTasksFor(context.Background(), testCorp, "rep")
	if err != nil || len(open) != 1 || open[0].ID != env.task {
		t.Fatalf("open tasks for rep: %+v %v", open, err)
	}
	if open, _ := env.tasks.OpenTasksFor(context.Background(), testCorp, "nobody"); len(open) != 0 {
		t.Fatal("a task for an employee it was not sent to")
	}
}

// taskCard is the app message a published task sends.
type taskCard struct {
	ToUser   string `json:"touser"`
	MsgType  string `json:"msgtype"`
	TextCard struct {
		Title, URL string
	} `json:"textcard"`
}

// publishTask publishes the task as the admin through the console and
// returns the one app message it put in the sandbox's outbox.
func publishTask(t *testing.T, env *consoleEnv, sb *sandbox.Sandbox, id int64) taskCard {
	t.Helper()
	if w := env.do(http.MethodPost, "/admin/tasks/"+strconv.FormatInt(id, 10)+"/publish", "admin", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("publish: %d %s", w.Code, w.Body.String())
	}
	out := sb.Outbox("app_message")
	if len(out) != 1 {
		t.Fatalf("outbox: %d app messages", len(out))
	}
	var msg taskCard
	if err := json.Unmarshal(out[0].Payload, &msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

// recordMaterial records n moments of kind for the task's form, attributed
// to the employee.
func (env *consoleEnv) recordMaterial(employee, kind string, n int) {
	env.t.Helper()
	var identity int64
	if err := env.db.Get(&identity, `SELECT min(id) FROM identities WHERE user_id = $1`, env.u1); err != nil {
		env.t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		detail := fmt.Sprintf(`{"form_id": %d}`, env.form)
		_, err := env.ids.RecordMoments(context.Background(), []services.MomentRecord{{IdentityID: identity,
			MomentInput: services.MomentInput{Kind: services.MomentKind(kind), EmployeeUserID: employee, Detail: json.RawMessage(detail),
				DedupKey: fmt.Sprintf("test:%s:%s:%d", employee, kind, i)}}})
		if err != nil {
			env.t.Fatal(err)
		}
	}
}

// A task for a department reaches its employees and those of its
// sub-departments, and nobody outside them, nor anyone who left or is outside
// the app's visible range.
func TestConsolePublishTaskToDepartment(t *testing.T) {
	sb, client := startWeComSandbox(t)
	env := newConsoleEnv(t)
	env.wechat.client = client
	env.exec(`INSERT INTO wecom_departments (corp_id, id, name, parent_id) VALUES ($1, 4, '华东销售', 2), ($1, 5, '华东一组', 4)`, testCorp)
	env.exec(`INSERT INTO wecom_employees (corp_id, userid, name, departments, status, in_visible_range) VALUES
        ($1, 'east', '孙销售', '{4}', 1, true), ($1, 'east1', '周销售', '{5}', 1, true),
        ($1, 'gone', '吴离职', '{4}', 5, true), ($1, 'hidden', '郑不可见', '{5}', 1, false)`, testCorp)
	for _, u := range []string{"east", "east1", "gone", "hidden"} {
		if _, err := sb.CreateEmployee(sandbox.NewEmployee{UserID: u, Name: u}); err != nil {
			t.Fatal(err)
		}
	}
	admin := services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin}
	task, err := env.tasks.CreateTask(context.Background(), admin, services.TaskInput{Title: "华东推广", FormID: env.form,
		Message: "转发", Deadline: time.Now().Add(time.Hour), TargetKind: services.TargetDepartments, TargetIDs: []string{"4"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := publishTask(t, env, sb, task.ID)
	got := strings.Split(msg.ToUser, "|")
	slices.Sort(got)
	if want := []string{"east", "east1"}; !slices.Equal(got, want) {
		t.Fatalf("receivers %v, want %v", got, want)
	}
	for _, who := range []string{"east1", "rep"} {
		open, err := env.tasks.OpenTasksFor(context.Background(), testCorp, who)
		if err != nil {
			t.Fatal(err)
		}
		has := slices.ContainsFunc(open, func(x services.OpenTask) bool { return x.ID == task.ID })
		if has != (who == "east1") {
			t.Errorf("%s sees the department's task: %v", who, has)
		}
	}
}
