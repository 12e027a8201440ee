package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// postSealed encrypts plaintext for receiver with the given crypter and
// POSTs it like WeChat does; it returns the HTTP status.
func (env *wecomEnv) postSealed(path string, cr *wxcrypto.Crypter, to string, plaintext []byte, extra url.Values) int {
	env.t.Helper()
	ts, nonce := fmt.Sprint(time.Now().Unix()), "n"+fmt.Sprint(time.Now().UnixNano())
	enc, sig, err := cr.Seal(plaintext, ts, nonce)
	if err != nil {
		env.t.Fatal(err)
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	for k, v := range extra {
		q[k] = v
	}
	if q.Get("encrypt_type") == "aes" {
		q.Set("signature", wxcrypto.Sign(cr.Token, ts, nonce))
	}
	body := wxcrypto.Envelope{ToUserName: to, Encrypt: enc}.Marshal()
	return env.post(path+"?"+q.Encode(), body)
}

func (env *wecomEnv) post(pathQuery string, body []byte) int {
	env.t.Helper()
	resp, err := http.Post(env.srv.URL+pathQuery, "text/xml", bytes.NewReader(body))
	if err != nil {
		env.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (env *wecomEnv) wecomCrypter() *wxcrypto.Crypter {
	o := env.sb.Options()
	cr, err := wxcrypto.NewCrypter(o.Corp.Token, o.Corp.EncodingAESKey, o.Corp.CorpID)
	if err != nil {
		env.t.Fatal(err)
	}
	return cr
}

func (env *wecomEnv) oaCrypter() *wxcrypto.Crypter {
	o := env.sb.Options()
	cr, err := wxcrypto.NewCrypter(o.Official.Token, o.Official.EncodingAESKey, o.Official.AppID)
	if err != nil {
		env.t.Fatal(err)
	}
	return cr
}

// Every event kind sent by the sandbox ends in the right identities,
// moments and mirror rows.
func TestEveryEventKind(t *testing.T) {
	env := newWeComEnv(t, false)
	sb := env.sb
	must[sandbox.Department](t)(sb.CreateDepartment(sandbox.NewDepartment{ID: 5, Name: "销售部"}))
	must[sandbox.Employee](t)(sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三", Department: []int{5}}))
	must[sandbox.Employee](t)(sb.CreateEmployee(sandbox.NewEmployee{UserID: "lisi", Name: "李四", Department: []int{5}}))
	tag := must[sandbox.Tag](t)(sb.CreateCorpTag(sandbox.NewCorpTag{GroupName: "意向", Name: "高"}))
	p := must[sandbox.WeChatUser](t)(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "王五", Phone: "13912345678"}))
	add := must[sandbox.AddCustomerResult](t)(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID,
		EmployeeUserID: "zhangsan", State: "poster-1", RemarkMobiles: []string{"13912345678"}}))
	ext := add.ExternalUserID
	env.settle()

	// change_contact + change_external_tag → mirror
	if env.count(`SELECT count(*) FROM wecom_employees WHERE userid IN ('zhangsan', 'lisi') AND departments = '{5}'`) != 2 ||
		env.count(`SELECT count(*) FROM wecom_departments WHERE id = 5 AND name = '销售部'`) != 1 ||
		env.count(`SELECT count(*) FROM wecom_tags WHERE tag_id = $1 AND name = '高'`, tag.ID) != 1 {
		t.Fatal("employees, departments or tags not mirrored")
	}
	// add_external_contact → external_userid + unionid + phone on one user, wecom_added with the channel
	u := env.userOf("wecom_external_userid", ext)
	if u == 0 || env.userOf("unionid", p.UnionID) != u || env.count(`SELECT count(*) FROM identities WHERE user_id = $1 AND kind = 'phone'`, u) != 1 {
		t.Fatalf("contact identities not linked into one user %d", u)
	}
	if env.count(`SELECT count(*) FROM moments WHERE kind = 'wecom_added' AND channel = 'poster-1' AND employee_userid = 'zhangsan'`) != 1 {
		t.Fatal("wecom_added with channel missing")
	}
	if env.count(`SELECT count(*) FROM wecom_follows WHERE userid = 'zhangsan' AND external_userid = $1 AND state = 'poster-1' AND remark_mobiles IS NOT NULL`, ext) != 1 {
		t.Fatal("follow not mirrored")
	}
	// edit_external_contact with a tag → wecom_tagged
	if err := sb.EditCustomer(sandbox.EditCustomerInput{ExternalUserID: ext, EmployeeUserID: "zhangsan", AddTags: []string{tag.ID}}); err != nil {
		t.Fatal(err)
	}
	// OA subscribe with a scene, SCAN, CLICK, VIEW, unsubscribe
	must[struct{}](t)(struct{}{}, sb.Subscribe(sandbox.OAEventInput{WeChatUser: p.ID, Scene: "expo"}))
	must[struct{}](t)(struct{}{}, sb.Scan(sandbox.OAEventInput{WeChatUser: p.ID, Scene: "booth"}))
	env.settle()
	for i, ev := range []string{"<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[menu_price]]></EventKey>",
		"<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://example.com/x]]></EventKey>"} {
		plain := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
			"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType>%s</xml>", p.OAOpenID, time.Now().Unix()+int64(i), ev)
		if st := env.postSealed("/callbacks/oa", env.oaCrypter(), "gh_x", []byte(plain), url.Values{"encrypt_type": {"aes"}, "openid": {p.OAOpenID}}); st != 200 {
			t.Fatalf("OA %s: status %d", ev, st)
		}
	}
	must[struct{}](t)(struct{}{}, sb.Unsubscribe(sandbox.OAEventInput{WeChatUser: p.ID}))
	env.settle()
	if env.userOf("oa_openid", p.OAOpenID) != u {
		t.Fatal("OA fan not linked to the WeCom customer through unionid")
	}
	for kind, want := range map[string]int{"wecom_tagged": 1, "oa_subscribed": 1, "oa_scanned": 1, "oa_menu_clicked": 2, "oa_unsubscribed": 1} {
		key, idk := ext, "wecom_external_userid"
		if strings.HasPrefix(kind, "oa_") {
			key, idk = p.OAOpenID, "oa_openid"
		}
		if n := env.momentsOn(kind, idk, key); n != want {
			t.Errorf("%s moments = %d, want %d", kind, n, want)
		}
	}
	if env.count(`SELECT count(*) FROM moments WHERE kind = 'oa_subscribed' AND channel = 'expo'`) != 1 {
		t.Error("qrscene_ not stripped into the channel")
	}
	// groups: create with the customer, leave, join again, dismiss
	g := must[sandbox.GroupChat](t)(sb.CreateGroupChat(sandbox.NewGroupChat{Owner: "zhangsan", Name: "VIP群", Members: []string{ext, "lisi"}}))
	env.settle()
	must[struct{}](t)(struct{}{}, sb.LeaveGroupChat(sandbox.GroupMembersInput{ChatID: g.ChatID, Members: []string{ext}}))
	env.settle()
	must[struct{}](t)(struct{}{}, sb.JoinGroupChat(sandbox.GroupMembersInput{ChatID: g.ChatID, Members: []string{ext}}))
	env.settle()
	if j, l := env.momentsOn("group_joined", "wecom_external_userid", ext), env.momentsOn("group_left", "wecom_external_userid", ext); j != 2 || l != 1 {
		t.Errorf("group moments: joined %d (want 2), left %d (want 1)", j, l)
	}
	must[struct{}](t)(struct{}{}, sb.DismissGroupChat(g.ChatID))
	// transfer fails; then deleted by the customer and by the employee
	must[struct{}](t)(struct{}{}, sb.TransferCustomer(sandbox.TransferCustomerInput{ExternalUserID: ext, From: "zhangsan", To: "lisi", FailReason: "customer_refused"}))
	must[struct{}](t)(struct{}{}, sb.DeleteCustomer(sandbox.DeleteCustomerInput{ExternalUserID: ext, EmployeeUserID: "zhangsan", By: "customer"}))
	env.settle()
	add2 := must[sandbox.AddCustomerResult](t)(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "lisi"}))
	env.settle()
	must[struct{}](t)(struct{}{}, sb.DeleteCustomer(sandbox.DeleteCustomerInput{ExternalUserID: add2.ExternalUserID, EmployeeUserID: "lisi", By: "employee"}))
	must[struct{}](t)(struct{}{}, sb.DeleteEmployee("lisi"))
	env.settle()
	if env.momentsOn("wecom_deleted_by_customer", "wecom_external_userid", ext) != 1 || env.momentsOn("wecom_deleted_by_staff", "wecom_external_userid", ext) != 1 {
		t.Error("deletion moments missing")
	}
	if env.count(`SELECT count(*) FROM wecom_group_chats WHERE chat_id = $1 AND dismissed_at IS NOT NULL`, g.ChatID) != 1 {
		t.Error("dismiss not mirrored")
	}
	if env.count(`SELECT count(*) FROM wecom_employees WHERE userid = 'lisi' AND status = 5`) != 1 {
		t.Error("delete_user not mirrored")
	}
	if env.count(`SELECT count(*) FROM wecom_follows WHERE userid = 'zhangsan' AND deleted_by_customer`) != 1 {
		t.Error("del_follow_user not mirrored")
	}
	var bad []string
	_ = env.db.Select(&bad, `SELECT event || ': ' || last_error FROM wecom_inbox WHERE state <> 'done'`)
	if len(bad) != 0 {
		t.Errorf("inbox items not done: %q", bad)
	}
}

// The same callback delivered three times makes one inbox row and one moment.
func TestSameCallbackThreeTimes(t *testing.T) {
	env := newWeComEnv(t, false)
	must[any](t)(env.sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))
	p := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "赵六"}))
	env.settle()
	plain := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>1714037059</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>",
		"gh_x", p.OAOpenID)
	for range 3 { // each delivery with its own timestamp, nonce and random prefix
		if st := env.postSealed("/callbacks/oa", env.oaCrypter(), "gh_x", []byte(plain), url.Values{"encrypt_type": {"aes"}}); st != 200 {
			t.Fatalf("status %d", st)
		}
	}
	env.settle()
	if n := env.count(`SELECT count(*) FROM wecom_inbox WHERE source = 'oa'`); n != 1 {
		t.Fatalf("inbox rows = %d, want 1", n)
	}
	if n := env.momentsOn("oa_subscribed", "oa_openid", p.OAOpenID); n != 1 {
		t.Fatalf("moments = %d, want 1", n)
	}
}

// countingProc counts how often each item is processed.
type countingProc struct {
	inner services.Processor
	mu    sync.Mutex
	seen  map[int64]int
}

func (c *countingProc) Process(ctx context.Context, it services.InboxItem) error {
	c.mu.Lock()
	c.seen[it.ID]++
	c.mu.Unlock()
	return c.inner.Process(ctx, it)
}

// Two app instances (providers, processors and worker sets of their own) on
// one database drain one inbox: every item is processed exactly once.
func TestTwoInstancesDrainOneInbox(t *testing.T) {
	env := newWeComEnv(t, true)
	const n = 60
	for i := range n {
		p := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: fmt.Sprintf("粉丝%d", i)}))
		must[struct{}](t)(struct{}{}, env.sb.Subscribe(sandbox.OAEventInput{WeChatUser: p.ID}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := env.sb.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	if got := env.count(`SELECT count(*) FROM wecom_inbox WHERE state = 'pending'`); got != n {
		t.Fatalf("pending = %d, want %d", got, n)
	}
	counter := &countingProc{seen: map[int64]int{}}
	var stops []func()
	for range 2 {
		counter.inner = env.newProcessor(env.newProvider())
		w := env.newWorker(counter)
		w.Batch = 3
		stops = append(stops, env.run(w))
	}
	env.waitFor("drained", func() bool { return env.count(`SELECT count(*) FROM wecom_inbox WHERE state = 'done'`) == n })
	for _, s := range stops {
		s()
	}
	for id, k := range counter.seen {
		if k != 1 {
			t.Errorf("item %d processed %d times", id, k)
		}
	}
	if len(counter.seen) != n || env.count(`SELECT count(*) FROM moments WHERE kind = 'oa_subscribed'`) != n {
		t.Fatalf("processed %d items; moments %d", len(counter.seen), env.count(`SELECT count(*) FROM moments`))
	}
}

// Forged, misaddressed, undecryptable and oversized callbacks are refused
// and nothing is stored.
func TestBadCallbacksRefused(t *testing.T) {
	env := newWeComEnv(t, true)
	o := env.sb.Options()
	good := env.wecomCrypter()
	plain := []byte("<xml><ToUserName><![CDATA[" + o.Corp.CorpID + "]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>" +
		"<CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_tag]]></Event></xml>")
	otherCorp := *good
	otherCorp.ReceiveID = "wwsomeoneelse0001"
	wrongToken := *good
	wrongToken.Token = "wrong"
	wrongKey, _ := wxcrypto.NewCrypter(o.Corp.Token, strings.Repeat("A", 43), o.Corp.CorpID)
	cases := []struct {
		name string
		cr   *wxcrypto.Crypter
		want int
	}{
		{"bad signature", &wrongToken, 403},
		{"wrong receiveid", &otherCorp, 403},
		{"undecryptable", wrongKey, 400},
	}
	for _, c := range cases {
		if st := env.postSealed("/callbacks/wecom", c.cr, o.Corp.CorpID, plain, nil); st != c.want {
			t.Errorf("%s: status %d, want %d", c.name, st, c.want)
		}
	}
	if st := env.post("/callbacks/wecom?msg_signature=x&timestamp=1&nonce=1", bytes.Repeat([]byte("x"), 70<<10)); st != 413 {
		t.Errorf("oversized: status %d, want 413", st)
	}
	if st := env.post("/callbacks/oa?signature=bad&timestamp=1&nonce=1", plain); st != 400 && st != 403 {
		t.Errorf("plain body to a safe-mode OA: status %d", st)
	}
	if n := env.count(`SELECT count(*) FROM wecom_inbox`); n != 0 {
		t.Fatalf("%d rows stored from refused callbacks", n)
	}
	if st := env.postSealed("/callbacks/wecom", good, o.Corp.CorpID, plain, nil); st != 200 {
		t.Fatalf("good callback: status %d", st)
	}
}

// The welcome message reaches the sandbox outbox within 2 s of the add
// event, and before the contact is fetched.
func TestWelcomeFirst(t *testing.T) {
	env := newWeComEnv(t, false)
	env.welcomes.texts["ch-welcome"] = "欢迎！点击领取资料"
	must[any](t)(env.sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))
	p := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "钱七"}))
	env.settle()
	began := time.Now()
	must[sandbox.AddCustomerResult](t)(env.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "zhangsan", State: "ch-welcome"}))
	env.waitFor("welcome in outbox", func() bool { return len(env.sb.Outbox(sandbox.OutboxWelcome)) == 1 })
	took := time.Since(began)
	env.settle()
	w, wt := env.calls.index("/externalcontact/send_welcome_msg")
	g, _ := env.calls.index("/externalcontact/get")
	if took > 2*time.Second || wt.Sub(began) > 2*time.Second {
		t.Fatalf("welcome after %s", took)
	}
	if w < 0 || g < 0 || w > g {
		t.Fatalf("send_welcome_msg at call %d, externalcontact/get at %d: welcome must come first", w, g)
	}
	if !strings.Contains(string(env.sb.Outbox(sandbox.OutboxWelcome)[0].Payload), "欢迎") {
		t.Fatal("welcome text not sent")
	}
	t.Logf("welcome in the outbox %s after the add", took)
	// No channel text: nothing is sent.
	q := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "孙八"}))
	must[sandbox.AddCustomerResult](t)(env.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: q.ID, EmployeeUserID: "zhangsan", State: "no-text"}))
	env.settle()
	if n := len(env.sb.Outbox(sandbox.OutboxWelcome)); n != 1 {
		t.Fatalf("welcome messages = %d, want 1", n)
	}
}

// A poison event becomes a dead letter after its attempts; an admin retry
// processes it once the cause is gone.
func TestDeadLetterAndRetry(t *testing.T) {
	env := newWeComEnv(t, false)
	env.inbox.MaxAttempts = 2
	must[any](t)(env.sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))
	p := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "周九"}))
	env.settle()
	must[sandbox.Fault](t)(env.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/get", ErrCode: -1, Times: -1}))
	add := must[sandbox.AddCustomerResult](t)(env.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "zhangsan"}))
	env.settle()
	dead := must[[]services.InboxItem](t)(env.inbox.DeadLetters(context.Background(), 10))
	if len(dead) != 1 || dead[0].Attempts != 2 || !strings.Contains(dead[0].LastError, "errcode -1") {
		t.Fatalf("dead letters = %+v", dead)
	}
	if env.momentsOn("wecom_added", "wecom_external_userid", add.ExternalUserID) != 0 {
		t.Fatal("moment recorded for a failed event")
	}
	env.sb.ClearFaults()
	if err := env.inbox.Retry(context.Background(), dead[0].ID, admin1); err != nil {
		t.Fatal(err)
	}
	env.settle()
	if env.momentsOn("wecom_added", "wecom_external_userid", add.ExternalUserID) != 1 {
		t.Fatal("retried event not processed")
	}
	if env.count(`SELECT count(*) FROM audit_log WHERE action = 'inbox_retried'`) != 1 {
		t.Fatal("retry not audited")
	}
}

// Two instances starting cold fetch one token between them: providers of
// their own, one database.
func TestColdStartOneToken(t *testing.T) {
	env := newWeComEnv(t, true)
	providers := []*services.WeChatProvider{env.newProvider(), env.newProvider()}
	before := env.sb.Hits("/cgi-bin/gettoken")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := providers[i%2].WeChat(context.Background())
			if err == nil {
				_, err = c.ListDepartments(context.Background(), 0)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := env.sb.Hits("/cgi-bin/gettoken") - before; n != 1 {
		t.Fatalf("gettoken calls = %d, want 1", n)
	}
	// 42001 once: one forced refresh and one retry; three times: no loop.
	must[sandbox.Fault](t)(env.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/department/list", ErrCode: 42001, Times: 1}))
	c := must[*wecom.Client](t)(providers[0].WeChat(context.Background()))
	if _, err := c.ListDepartments(context.Background(), 0); err != nil {
		t.Fatalf("after one 42001: %v", err)
	}
	tokens := env.sb.Hits("/cgi-bin/gettoken")
	env.sb.ClearFaults()
	must[sandbox.Fault](t)(env.sb.AddFault(sandbox.Fault{Path: "/cgi-bin/department/list", ErrCode: 42001, Times: 3}))
	if _, err := c.ListDepartments(context.Background(), 0); err == nil {
		t.Fatal("three 42001 in a row must fail")
	}
	// faulted requests count in the fault, not in Hits
	if dt, dl := env.sb.Hits("/cgi-bin/gettoken")-tokens, env.sb.Faults()[0].Hits; dt != 1 || dl != 2 {
		t.Fatalf("on repeated 42001: %d token fetches (want 1), %d calls (want 2)", dt, dl)
	}
}
