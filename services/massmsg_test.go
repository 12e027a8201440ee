package services

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services/wecom"
)

type fixedWeChat struct{ c *wecom.Client }

func (f fixedWeChat) WeChat(context.Context) (*wecom.Client, error) { return f.c, nil }

// massEnv is the sandbox corp mirrored into a test database, with a
// published form, a segment of every WeCom customer and the service.
type massEnv struct {
	*syncEnv
	svc     *MassMessageService
	segment int64
	form    int64
	admin   Operator
}

func newMassEnv(t *testing.T) *massEnv {
	e := &massEnv{syncEnv: newSyncEnv(t), admin: Operator{Kind: "local", ID: "1", Role: RoleAdmin}}
	e.seed(t, sandbox.SeedInput{Employees: 2})
	e.db.MustExec(`UPDATE wecom_settings SET corp_id = $1`, e.t.CorpID)
	audit := NewAuditService(e.db)
	segs := NewSegmentService(e.db, audit)
	e.svc = NewMassMessageService(e.db, audit, segs, NewFormService(e.db, audit, "https://app.example.com"),
		NewAttributor([]byte("0123456789abcdef0123456789abcdef")), fixedWeChat{e.t.Client}, "https://app.example.com")
	sg, err := segs.CreateSegment(context.Background(), e.admin, SegmentInput{Name: "企微客户",
		Filter: SegmentFilter{HasKinds: []string{"wecom_external_userid"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.segment = sg.ID
	if err := e.db.Get(&e.form, `INSERT INTO forms (slug, title, consent_text, published)
VALUES ('massmassmassmass', '春季试驾', '同意', true) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	return e
}

// addCustomers adds n new WeChat people as customers of emp and syncs.
func (e *massEnv) addCustomers(t *testing.T, emp string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		p, err := e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "客户"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: emp})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.ExternalUserID)
	}
	e.sync(t)
	return out
}

func (e *massEnv) sync(t *testing.T) {
	t.Helper()
	for _, k := range []SyncKind{SyncEmployees, SyncContacts} {
		if _, err := e.svc.db.ExecContext(context.Background(), `SELECT 1`); err != nil {
			t.Fatal(err)
		}
		if _, err := e.syncEnv.svc.Run(context.Background(), e.t, k, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

// create saves and sends a message; confirm has every employee press send;
// refresh reads the results.
func (e *massEnv) create(t *testing.T, title string) int64 {
	t.Helper()
	m, err := e.svc.CreateMassMessage(context.Background(), e.admin, MassMessageInput{Title: title, SegmentID: e.segment,
		Text: "春季试驾开始报名", AttachKind: AttachForm, FormID: e.form})
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func (e *massEnv) confirmAll(t *testing.T, id int64) {
	t.Helper()
	var senders []massSender
	if err := e.db.Select(&senders, `SELECT userid, batch, msgid FROM mass_message_senders WHERE message_id = $1 AND msgid <> ''`, id); err != nil {
		t.Fatal(err)
	}
	for _, s := range senders {
		if _, err := e.sb.ConfirmMassMessage(s.MsgID, s.UserID); err != nil {
			t.Fatal(err)
		}
	}
}

// A mass message to a segment leaves out the customers already messaged
// this week and says how many; each customer is planned once (one
// follower); the results and the timeline follow the employees' confirms;
// a customer WeCom itself refuses (messaged outside the app) shows 已达上限.
func TestMassMessageSkipsCustomersMessagedThisWeek(t *testing.T) {
	e := newMassEnv(t)
	ctx := context.Background()
	first := e.addCustomers(t, "emp001", 3)
	e.addCustomers(t, "emp002", 2)
	// first[0] is also a customer of emp002: still one recipient
	p := personByExt(t, e.sb, first[0])
	if _, err := e.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p, EmployeeUserID: "emp002"}); err != nil {
		t.Fatal(err)
	}
	e.sync(t)

	a := e.create(t, "第一条")
	plan, err := e.svc.Preview(ctx, e.admin, a)
	if err != nil || plan.Customers != 5 || plan.Excluded != 0 || plan.Recipients != 5 || len(plan.Employees) != 2 ||
		plan.Employees[0].Customers+plan.Employees[1].Customers != 5 || plan.SegmentUsers != 5 {
		t.Fatalf("plan A = %+v, %v", plan, err)
	}
	res, err := e.svc.SendMassMessage(ctx, e.admin, a)
	if err != nil || res.Tasks != 2 || res.Excluded != 0 {
		t.Fatalf("send A = %+v, %v", res, err)
	}
	if _, err := e.svc.SendMassMessage(ctx, e.admin, a); ErrorCode(err) != ECONFLICT {
		t.Fatalf("send A again: %v", err)
	}
	e.assertSignedLink(t)
	e.confirmAll(t, a)
	for range 2 { // refreshing twice records nothing twice
		if err := e.svc.RefreshMassMessage(ctx, e.admin, a); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := e.svc.MassMessageReport(ctx, e.admin, a)
	if err != nil || rep.Totals[1] != 5 || rep.Senders[0].Status != 1 {
		t.Fatalf("report A = %+v, %v", rep, err)
	}
	if n := e.count(t, `SELECT count(*) FROM moments WHERE kind = 'mass_message_received'`); n != 5 {
		t.Fatalf("moments = %d", n)
	}

	// B: a new customer joins; the five who got A this week are left out
	late := e.addCustomers(t, "emp001", 1)
	b := e.create(t, "第二条")
	if plan, err = e.svc.Preview(ctx, e.admin, b); err != nil || plan.Customers != 6 || plan.Excluded != 5 || plan.Recipients != 1 {
		t.Fatalf("plan B = %+v, %v", plan, err)
	}
	if res, err = e.svc.SendMassMessage(ctx, e.admin, b); err != nil || res.Excluded != 5 || res.Tasks != 1 {
		t.Fatalf("send B = %+v, %v", res, err)
	}
	if m, _ := e.svc.find(ctx, b); m.ExcludedWeek != 5 {
		t.Fatalf("B records %d excluded", m.ExcludedWeek)
	}
	var got string
	e.db.Get(&got, `SELECT external_userid FROM mass_message_recipients WHERE message_id = $1`, b)
	if got != late[0] {
		t.Fatalf("B went to %s, want %s", got, late[0])
	}

	// C: a customer messaged outside the app is refused by WeCom (status 3)
	outside := e.addCustomers(t, "emp002", 1)[0]
	direct, err := e.t.Client.AddMsgTemplate(ctx, wecom.MassMessage{Sender: "emp002", ExternalUserIDs: []string{outside}, Text: "手工群发"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.ConfirmMassMessage(direct.MsgID, "emp002"); err != nil {
		t.Fatal(err)
	}
	c := e.create(t, "第三条")
	if res, err = e.svc.SendMassMessage(ctx, e.admin, c); err != nil || res.Excluded != 6 {
		t.Fatalf("send C = %+v, %v", res, err)
	}
	e.confirmAll(t, c)
	if err := e.svc.RefreshMassMessage(ctx, e.admin, c); err != nil {
		t.Fatal(err)
	}
	if rep, _ = e.svc.MassMessageReport(ctx, e.admin, c); rep.Totals[3] != 1 || rep.Senders[0].AtLimit != 1 {
		t.Fatalf("report C = %+v", rep)
	}
}

func personByExt(t *testing.T, sb *sandbox.Sandbox, ext string) string {
	t.Helper()
	for _, p := range sb.WeChatUsers("", 1000) {
		if p.ExternalUserID == ext {
			return p.ID
		}
	}
	t.Fatalf("no person %s", ext)
	return ""
}

// assertSignedLink checks the form link WeCom received carries the signed
// attribution of the sending employee.
func (e *massEnv) assertSignedLink(t *testing.T) {
	t.Helper()
	msgs := e.sb.MassMessages()
	if len(msgs) == 0 || len(msgs[0].Attachments) != 1 {
		t.Fatalf("sandbox messages = %+v", msgs)
	}
	att := string(msgs[0].Attachments[0])
	if !strings.Contains(att, `https://app.example.com/f/massmassmassmass?a=`) || !strings.Contains(att, "utm_medium=massmsg") {
		t.Fatalf("attachment = %s", att)
	}
}

// Bad input and WeCom's refusals come back as clear errors.
func TestMassMessageErrors(t *testing.T) {
	e := newMassEnv(t)
	ctx := context.Background()
	_, err := e.svc.CreateMassMessage(ctx, e.admin, MassMessageInput{Title: "", SegmentID: 999, AttachKind: AttachMiniProgram})
	f := ErrorFields(err)
	if f["title"] == "" || f["segment"] == "" || f["miniprogram"] == "" {
		t.Fatalf("bad input: %v %v", err, f)
	}
	if _, err := e.svc.CreateMassMessage(ctx, Operator{Role: RoleManager}, MassMessageInput{}); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("manager: %v", err)
	}
	empty := e.create(t, "空人群")
	if _, err := e.svc.SendMassMessage(ctx, e.admin, empty); ErrorFields(err)["segment"] == "" {
		t.Fatalf("no customers: %v", err)
	}
	e.addCustomers(t, "emp001", 1)
	m, err := e.svc.CreateMassMessage(ctx, e.admin, MassMessageInput{Title: "小程序", SegmentID: e.segment,
		AttachKind: AttachMiniProgram, MPTitle: "领券", MPPage: "/pages/coupon", MPMediaID: "media1"})
	if err != nil {
		t.Fatal(err)
	}
	e.db.MustExec(`UPDATE wecom_settings SET mp_app_id = 'wxnotours'`)
	_, err = e.svc.SendMassMessage(ctx, e.admin, m.ID)
	if ErrorCode(err) != EUNAVAILABLE || !strings.Contains(ErrorMessage(err), "90207") {
		t.Fatalf("foreign mini program: %v", err)
	}
	rep, _ := e.svc.MassMessageReport(ctx, e.admin, m.ID)
	if rep.Status != "failed" || rep.Senders[0].ErrCode != 90207 || rep.Totals[4] != 1 {
		t.Fatalf("failed report = %+v", rep)
	}
	// a form taken offline after writing the message: said plainly
	off := e.create(t, "表单下线")
	e.db.MustExec(`UPDATE forms SET published = false`)
	if _, err := e.svc.SendMassMessage(ctx, e.admin, off); !strings.Contains(ErrorMessage(err), "表单已下线") {
		t.Fatalf("offline form: %v", err)
	}
	// the refused customer does not count against the week: fixed, it sends
	e.db.MustExec(`UPDATE wecom_settings SET mp_app_id = $1`, e.sb.Options().MiniProgram.AppID)
	if res, err := e.svc.SendMassMessage(ctx, e.admin, m.ID); err != nil || res.Tasks != 1 || res.Excluded != 0 {
		t.Fatalf("resend: %+v %v", res, err)
	}
}

// The periodic refresh picks up a sent message the employee has confirmed,
// once per interval.
func TestMassMessageRefreshOpen(t *testing.T) {
	e := newMassEnv(t)
	ctx := context.Background()
	e.addCustomers(t, "emp001", 2)
	id := e.create(t, "定时刷新")
	if _, err := e.svc.SendMassMessage(ctx, e.admin, id); err != nil {
		t.Fatal(err)
	}
	e.confirmAll(t, id)
	if n, err := e.svc.RefreshOpen(ctx, time.Minute); err != nil || n != 1 {
		t.Fatalf("refresh open: %d %v", n, err)
	}
	if n, _ := e.svc.RefreshOpen(ctx, time.Minute); n != 0 {
		t.Fatalf("refreshed again within the interval: %d", n)
	}
	if n := e.count(t, `SELECT count(*) FROM mass_message_recipients WHERE message_id = $1 AND status = 1`, id); n != 2 {
		t.Fatalf("received: %d", n)
	}
}
