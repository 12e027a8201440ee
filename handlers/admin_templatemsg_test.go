package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
)

// tmEnv is oaqrEnv with template messages: the fans imported from the
// sandbox, a segment of them, and the template service on the real client.
type tmEnv struct {
	*oaqrEnv
	segs *services.SegmentService
	svc  *services.TemplateMessageService
}

func newTMEnv(t *testing.T, fans int) *tmEnv {
	t.Helper()
	e := &tmEnv{oaqrEnv: newOAQREnv(t, sandbox.ModeSafe, realReplies)}
	ctx := context.Background()
	if _, err := e.sb.Seed(sandbox.SeedInput{Employees: 1, WeChatUsers: fans, Fans: fans}); err != nil {
		t.Fatal(err)
	}
	client, err := e.provider.WeChat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sync := services.NewSyncService(e.db, e.box, services.NewIdentityService(e.db, e.box), nil)
	if _, err := sync.Run(ctx, services.SyncTarget{CorpID: e.corp, OAAppID: e.oaApp, Client: client}, services.SyncFans, "test"); err != nil {
		t.Fatal(err)
	}
	audit := services.NewAuditService(e.db)
	e.segs = services.NewSegmentService(e.db, audit)
	e.svc = e.newService()
	return e
}

func (e *tmEnv) newService() *services.TemplateMessageService {
	svc := services.NewTemplateMessageService(e.db, services.NewAuditService(e.db), e.segs, e.attr, replyBase,
		func(ctx context.Context) (services.TemplateClient, error) { return e.provider.WeChat(ctx) })
	svc.Lease = 300 * time.Millisecond
	return svc
}

var admin1 = services.Actor{Kind: "local", ID: "1", Role: services.RoleAdmin}

// draft syncs the templates and composes a send of the activity template
// to a segment of every fan: a fixed name, the fan's nickname, the date.
func (e *tmEnv) draft(t *testing.T) services.TemplateSend {
	t.Helper()
	ctx := context.Background()
	if n, err := e.svc.SyncTemplates(ctx, e.oaApp, admin1); err != nil || n != 3 {
		t.Fatalf("sync templates: %d %v", n, err)
	}
	seg, err := e.segs.CreateSegment(ctx, services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin},
		services.SegmentInput{Name: "全部粉丝", Filter: services.SegmentFilter{HasKinds: []string{"oa_openid"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`INSERT INTO forms (slug, title, consent_text, published) VALUES ('springspringab23', '春季试驾', '同意', true)
ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	snd, err := e.svc.CreateSend(ctx, e.oaApp, services.TemplateSendInput{TemplateID: sandbox.TemplateActivity, SegmentID: seg.ID,
		FormSlug: "springspringab23", Fields: services.TemplateFields{
			"thing1": {Kind: services.TplFieldText, Value: "春季新品试驾会"},
			"time2":  {Kind: services.TplFieldVar, Value: "date"},
			"thing3": {Kind: services.TplFieldVar, Value: "nickname"}}}, admin1)
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

// Bad input is refused with the field named.
func TestTemplateSendRefusesBadInput(t *testing.T) {
	e := newTMEnv(t, 3)
	ctx := context.Background()
	e.draft(t)
	_, err := e.svc.CreateSend(ctx, e.oaApp, services.TemplateSendInput{TemplateID: sandbox.TemplateActivity,
		Fields: services.TemplateFields{"thing1": {Kind: services.TplFieldVar, Value: "salary"}}}, admin1)
	f := services.ErrorFields(err)
	if services.ErrorCode(err) != services.EINVALID || f["field_thing1"] == "" || f["field_time2"] == "" || f["segment"] == "" {
		t.Fatalf("bad input: %v %v", err, f)
	}
	if _, err := e.svc.CreateSend(ctx, e.oaApp, services.TemplateSendInput{TemplateID: "nope"}, admin1); services.ErrorFields(err)["template"] == "" {
		t.Fatalf("unknown template: %v", err)
	}
}

// A send to a segment of 1,000 fans, with 8 workers: preview and a test
// send first; then the runner "crashes" (its context ends) mid-send and
// five rows lose their recorded outcome (sent by WeChat, not committed);
// another instance resumes after the lease. Every fan got exactly one
// message, 1,000 outcomes are recorded with the real errcodes, and the
// TEMPLATESENDJOBFINISH callbacks (through the real callback handler and
// inbox) set every delivery status.
func TestTemplateSendThousandFansCrashResume(t *testing.T) {
	e := newTMEnv(t, 1000)
	ctx := context.Background()
	snd := e.draft(t)
	p, err := e.svc.Preview(ctx, snd.ID, "")
	if err != nil || len(p.Values) != 3 || p.Values[0].Value != "春季新品试驾会" || p.Values[2].Value == "" || !strings.Contains(p.URL, "/f/springspringab23?a=") {
		t.Fatalf("preview %+v %v", p, err)
	}
	var openids []string
	if err := e.db.Select(&openids, `SELECT key FROM identities WHERE kind = 'oa_openid' ORDER BY id LIMIT 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TestSend(ctx, snd.ID, openids[0], admin1); err != nil {
		t.Fatal(err)
	}
	// two fans unfollow (43004), two block template messages
	for _, o := range openids[1:3] {
		if err := e.sb.Unsubscribe(sandbox.OAEventInput{WeChatUser: o}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.sb.SetTemplateControl(sandbox.TemplateControl{Block: openids[3:5]}); err != nil {
		t.Fatal(err)
	}
	e.settle()
	testSent := len(e.sb.Outbox(sandbox.OutboxTemplate))

	if n, err := e.svc.Start(ctx, snd.ID, admin1); err != nil || n != 1000 {
		t.Fatalf("start: %d %v", n, err)
	}
	if _, err := e.svc.Start(ctx, snd.ID, admin1); services.ErrorCode(err) != services.ECONFLICT {
		t.Fatalf("second start: %v", err)
	}
	if _, err := e.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/message/template/send", LatencyMS: 4, Times: -1}); err != nil {
		t.Fatal(err)
	}
	crash, cancel := context.WithCancel(ctx)
	time.AfterFunc(150*time.Millisecond, cancel)
	_ = e.svc.Run(crash, snd.ID)
	done := e.count(`SELECT count(*) FROM template_recipients WHERE send_id = $1 AND status <> 'pending'`, snd.ID)
	if done == 0 || done >= 1000 {
		t.Fatalf("the crash left %d of 1000 recorded; want a send cut mid-way", done)
	}
	if _, err := e.db.Exec(`UPDATE template_recipients SET status = 'pending', msgid = NULL WHERE id IN (
SELECT id FROM template_recipients WHERE send_id = $1 AND status = 'sent' ORDER BY id LIMIT 5)`, snd.ID); err != nil {
		t.Fatal(err)
	}
	e.sb.ClearFaults()

	other := e.newService()
	if err := other.Run(ctx, snd.ID); err != nil {
		t.Fatalf("resume while the crashed runner's lease holds: %v", err)
	}
	time.Sleep(350 * time.Millisecond)
	if err := other.Run(ctx, snd.ID); err != nil {
		t.Fatal(err)
	}
	e.checkSend(t, snd.ID, testSent)
}

// checkSend asserts the outcome of the 1,000-fan send.
func (e *tmEnv) checkSend(t *testing.T, id int64, testSent int) {
	t.Helper()
	ctx := context.Background()
	out := e.sb.Outbox(sandbox.OutboxTemplate)
	perFan := map[any]int{}
	for _, m := range out[testSent:] {
		perFan[m.Keys["touser"]]++
	}
	for fan, n := range perFan {
		if n != 1 {
			t.Fatalf("fan %v got %d messages", fan, n)
		}
	}
	if len(perFan) != 998 {
		t.Fatalf("%d fans got the message, want 998 (1,000 less 2 who unfollowed)", len(perFan))
	}
	e.settle()
	s, err := e.svc.Summary(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Total != 1000 || s.Pending != 0 || s.Sent != 998 || s.Failed != 2 || len(s.Errcodes) != 1 || s.Errcodes[0].Code != 43004 {
		t.Fatalf("summary %+v", s)
	}
	if s.Delivered != 996 || s.UserBlock != 2 {
		t.Fatalf("TEMPLATESENDJOBFINISH statuses: %+v", s)
	}
	snd, err := e.svc.Send(ctx, id)
	if err != nil || snd.Status != services.SendDone || snd.Recipients != 1000 {
		t.Fatalf("send %+v %v", snd, err)
	}
}

// The pages end to end over HTTP as the admin: sync the templates, compose
// a send (fields as text or variables), preview, test send, start; the
// background runner sends it and the page shows the results. A manager may
// look but not send.
func TestTemplateMessagePages(t *testing.T) {
	e := newTMEnv(t, 5)
	client, err := e.provider.WeChat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env := newConsoleEnv(t, func(d *Deps) {
		d.Console.TemplateMsgs, d.Console.WeChat = e.svc, FixedWeChat{Client: client}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.svc.RunPending(ctx)
	if _, err := e.segs.CreateSegment(ctx, services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin},
		services.SegmentInput{Name: "粉丝", Filter: services.SegmentFilter{HasKinds: []string{"oa_openid"}}}); err != nil {
		t.Fatal(err)
	}
	expect := func(w *httptest.ResponseRecorder, status int, contains ...string) {
		t.Helper()
		if w.Code != status {
			t.Fatalf("status %d, want %d: %.600s", w.Code, status, w.Body.String())
		}
		for _, c := range contains {
			if !strings.Contains(w.Body.String(), c) {
				t.Fatalf("page lacks %q: %.2000s", c, w.Body.String())
			}
		}
	}
	expect(env.do("POST", "/admin/templatemsg/sync", "admin", nil), http.StatusSeeOther)
	expect(env.do("GET", "/admin/templatemsg", "manager", nil), http.StatusOK, "活动报名成功通知", "thing1")
	expect(env.do("GET", "/admin/templatemsg/new?template="+sandbox.TemplateActivity, "admin", nil), http.StatusOK, `data-name="time2"`)
	var segID string
	if err := e.db.Get(&segID, `SELECT id::text FROM segments ORDER BY id LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"template": {sandbox.TemplateActivity}, "segment": {segID}, "kind_thing1": {"text"}, "text_thing1": {"春季试驾会"},
		"kind_time2": {"var"}, "var_time2": {"date"}, "kind_thing3": {"text"}, "text_thing3": {""}}
	expect(env.do("POST", "/admin/templatemsg", "admin", form), http.StatusUnprocessableEntity, "请填写 1–200 个字")
	form.Set("text_thing3", "上海")
	w := env.do("POST", "/admin/templatemsg", "admin", form)
	expect(w, http.StatusSeeOther)
	show := w.Header().Get("Location")
	expect(env.do("GET", show, "admin", nil), http.StatusOK, "春季试驾会", "年", "tm-test-form")
	var openid string
	if err := e.db.Get(&openid, `SELECT key FROM identities WHERE kind = 'oa_openid' ORDER BY id LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	expect(env.do("POST", show+"/test", "manager", url.Values{"openid": {openid}}), http.StatusForbidden)
	expect(env.do("POST", show+"/test", "admin", url.Values{"openid": {"o-nobody"}}), http.StatusNotFound)
	expect(env.do("POST", show+"/test", "admin", url.Values{"openid": {openid}}), http.StatusSeeOther)
	expect(env.do("POST", show+"/start", "admin", nil), http.StatusSeeOther)
	e.waitFor("send done", func() bool {
		return strings.Contains(env.do("GET", show, "admin", nil).Body.String(), "已完成")
	})
	expect(env.do("GET", show, "admin", nil), http.StatusOK, `data-testid="tm-sent">5<`, `data-testid="tm-total">5<`)
}
