package wecom

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
)

// The mass message calls against the sandbox: create (fail_list for
// non-customers), the member confirms, tasks and per-customer results, the
// weekly per-customer limit (status 3), the list, and the real errcodes.
func TestSandboxMassMessages(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))(t)
	must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "lisi", Name: "李四"}))(t)
	add := func(emp string, p sandbox.WeChatUser) string {
		return must(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: emp}))(t).ExternalUserID
	}
	var ext []string
	for range 3 {
		ext = append(ext, add("zhangsan", must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "客户"}))(t)))
	}
	other := add("lisi", must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "别人的客户"}))(t))
	shared := ext[0]
	must(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: personOf(t, sb, shared), EmployeeUserID: "lisi"}))(t)

	start := time.Now().Add(-time.Minute).Unix()
	res := must(c.AddMsgTemplate(ctx, MassMessage{Sender: "zhangsan", ExternalUserIDs: append(slices.Clone(ext), other, "wmunknown"),
		Text: "春季活动", Link: &Link{Title: "报名", URL: "https://example.com/f/x"}}))(t)
	if res.MsgID == "" || len(res.FailList) != 2 || !slices.Contains(res.FailList, other) {
		t.Fatalf("add = %+v", res)
	}
	if tasks := must(c.GroupMsgTasks(ctx, res.MsgID))(t); len(tasks) != 1 || tasks[0].UserID != "zhangsan" || tasks[0].Status != 0 {
		t.Fatalf("tasks before confirm = %+v", tasks)
	}
	must(sb.ConfirmMassMessage(res.MsgID, "zhangsan"))(t)
	tasks := must(c.GroupMsgTasks(ctx, res.MsgID))(t)
	if tasks[0].Status != 1 || tasks[0].SendTime == 0 {
		t.Fatalf("tasks after confirm = %+v", tasks)
	}
	results := must(c.GroupMsgSendResults(ctx, res.MsgID, "zhangsan"))(t)
	if len(results) != 3 || results[0].Status != 1 {
		t.Fatalf("results = %+v", results)
	}

	// lisi's message reaches shared (already messaged this week) as status 3
	res2 := must(c.AddMsgTemplate(ctx, MassMessage{Sender: "lisi", ExternalUserIDs: []string{shared, other}, Text: "再来一条"}))(t)
	must(sb.ConfirmMassMessage(res2.MsgID, "lisi"))(t)
	status := map[string]int{}
	for _, r := range must(c.GroupMsgSendResults(ctx, res2.MsgID, "lisi"))(t) {
		status[r.ExternalUserID] = r.Status
	}
	if status[shared] != 3 || status[other] != 1 {
		t.Fatalf("second message results = %v", status)
	}
	list := must(c.GroupMsgList(ctx, start, time.Now().Add(time.Minute).Unix()))(t)
	if len(list) != 2 || list[0].Creator != "zhangsan" || list[0].Text != "春季活动" {
		t.Fatalf("list = %+v", list)
	}
}

func personOf(t *testing.T, sb *sandbox.Sandbox, ext string) string {
	t.Helper()
	for _, p := range sb.WeChatUsers("", 1000) {
		if p.ExternalUserID == ext {
			return p.ID
		}
	}
	t.Fatalf("no person for %s", ext)
	return ""
}

// Bad input gets WeCom's errcodes, not a silent success.
func TestSandboxMassMessageErrors(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))(t)
	p := must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "客户"}))(t)
	ext := must(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "zhangsan"}))(t).ExternalUserID
	mini := &MiniProgram{Title: "小程序", PicMediaID: "media1", AppID: "wxnotours", Page: "/pages/index"}
	cases := []struct {
		name string
		m    MassMessage
		code int
	}{
		{"no customer of the sender", MassMessage{Sender: "zhangsan", ExternalUserIDs: []string{"wmnobody"}, Text: "x"}, 41048},
		{"foreign mini program", MassMessage{Sender: "zhangsan", ExternalUserIDs: []string{ext}, MiniProgram: mini}, 90207},
		{"text too long", MassMessage{Sender: "zhangsan", ExternalUserIDs: []string{ext}, Text: strings.Repeat("长", 1500)}, 40058},
		{"empty message", MassMessage{Sender: "zhangsan", ExternalUserIDs: []string{ext}}, 40058},
		{"unknown sender", MassMessage{Sender: "nobody", ExternalUserIDs: []string{ext}, Text: "x"}, 60111},
	}
	for _, tc := range cases {
		if _, err := c.AddMsgTemplate(ctx, tc.m); !IsAPIError(err, tc.code) {
			t.Errorf("%s: %v, want errcode %d", tc.name, err, tc.code)
		}
	}
	if _, err := c.GroupMsgTasks(ctx, "msgunknown"); !IsAPIError(err, 41047) {
		t.Errorf("unknown msgid: %v", err)
	}
	if _, err := c.GroupMsgList(ctx, 100, 100+40*24*3600); !IsAPIError(err, 40058) {
		t.Errorf("range over a month: %v", err)
	}
	mini.AppID = sb.Options().MiniProgram.AppID
	if _, err := c.AddMsgTemplate(ctx, MassMessage{Sender: "zhangsan", ExternalUserIDs: []string{ext}, MiniProgram: mini}); err != nil {
		t.Errorf("our mini program: %v", err)
	}
}
