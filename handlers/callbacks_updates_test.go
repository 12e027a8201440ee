package handlers

import (
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
)

// The console edits WeCom reports as update and delete events reach the
// mirror: a member renamed and moved, a department renamed and deleted, a
// group renamed and handed over, a tag renamed, and a customer who added an
// employee without verification (add_half_external_contact).
func TestUpdateEventsReachTheMirror(t *testing.T) {
	env := newWeComEnv(t, false)
	sb := env.sb
	name := func(s string) *string { return &s }
	must[sandbox.Department](t)(sb.CreateDepartment(sandbox.NewDepartment{ID: 5, Name: "销售部"}))
	must[sandbox.Department](t)(sb.CreateDepartment(sandbox.NewDepartment{ID: 6, Name: "临时组"}))
	must[sandbox.Employee](t)(sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三", Department: []int{5}}))
	must[sandbox.Employee](t)(sb.CreateEmployee(sandbox.NewEmployee{UserID: "lisi", Name: "李四", Department: []int{5}}))
	tag := must[sandbox.Tag](t)(sb.CreateCorpTag(sandbox.NewCorpTag{GroupName: "意向", Name: "高"}))
	p := must[sandbox.WeChatUser](t)(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "王五"}))
	add := must[sandbox.AddCustomerResult](t)(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID,
		EmployeeUserID: "zhangsan", State: "expo", Half: true}))
	g := must[sandbox.GroupChat](t)(sb.CreateGroupChat(sandbox.NewGroupChat{Owner: "zhangsan", Name: "VIP群", Members: []string{add.ExternalUserID}}))
	env.settle()

	must[sandbox.Employee](t)(sb.UpdateEmployee(sandbox.EmployeeUpdate{UserID: "zhangsan", Name: name("张三丰"), Department: []int{6}, Position: name("经理")}))
	must[sandbox.Department](t)(sb.UpdateDepartment(sandbox.DepartmentUpdate{ID: 5, Name: name("销售一部")}))
	must[struct{}](t)(struct{}{}, sb.UpdateGroupChat(sandbox.GroupChatUpdate{ChatID: g.ChatID, Name: "VIP 客户群", Owner: "lisi"}))
	must[sandbox.Tag](t)(sb.RenameCorpTag(tag.ID, "高意向"))
	if err := sb.DeleteDepartment(6); err == nil {
		t.Fatal("a department with members was deleted")
	}
	must[sandbox.Employee](t)(sb.UpdateEmployee(sandbox.EmployeeUpdate{UserID: "zhangsan", Department: []int{5}}))
	must[struct{}](t)(struct{}{}, sb.DeleteDepartment(6))
	env.settle()

	for what, q := range map[string]string{
		"member renamed and moved": `SELECT count(*) FROM wecom_employees WHERE userid = 'zhangsan' AND name = '张三丰' AND position = '经理' AND departments = '{5}'`,
		"department renamed":       `SELECT count(*) FROM wecom_departments WHERE id = 5 AND name = '销售一部' AND deleted_at IS NULL`,
		"department deleted":       `SELECT count(*) FROM wecom_departments WHERE id = 6 AND deleted_at IS NOT NULL`,
		"group renamed, new owner": `SELECT count(*) FROM wecom_group_chats WHERE name = 'VIP 客户群' AND owner = 'lisi'`,
		"tag renamed":              `SELECT count(*) FROM wecom_tags WHERE name = '高意向'`,
		"half add followed":        `SELECT count(*) FROM wecom_follows WHERE userid = 'zhangsan' AND state = 'expo'`,
		"half add moment":          `SELECT count(*) FROM moments WHERE kind = 'wecom_added' AND channel = 'expo' AND detail->>'half' = 'true'`,
	} {
		if n := env.count(q); n != 1 {
			t.Errorf("%s: %d rows", what, n)
		}
	}
	var bad []string
	_ = env.db.Select(&bad, `SELECT event || ': ' || last_error FROM wecom_inbox WHERE state <> 'done'`)
	if len(bad) != 0 {
		t.Errorf("inbox items not done: %q", bad)
	}
}
