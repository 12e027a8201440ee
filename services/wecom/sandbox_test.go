package wecom

import (
	"context"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
)

// startSandbox runs an in-process sandbox and a client pointed at it.
func startSandbox(t *testing.T) (*sandbox.Sandbox, *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Seed: 42, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("sandbox.Start: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close(context.Background()) })
	o, u := sb.Options(), sb.URLs()
	c, err := New(Config{
		CorpID: o.Corp.CorpID, AgentID: o.Corp.AgentID, AgentSecret: o.Corp.AgentSecret,
		ContactsSyncSecret: o.Corp.ContactSecret, // the sandbox's ContactSecret is the 通讯录同步 secret
		CallbackToken:      o.Corp.Token, CallbackAESKey: o.Corp.EncodingAESKey,
		OA:           OAConfig{AppID: o.Official.AppID, Secret: o.Official.Secret, Token: o.Official.Token, AESKey: o.Official.EncodingAESKey},
		MP:           MPConfig{AppID: o.MiniProgram.AppID, Secret: o.MiniProgram.Secret},
		WeComBaseURL: u.WeComAPI, OABaseURL: u.OfficialAPI, OAuthBaseURL: u.OAuth,
	}, NewMemoryCache(), testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return sb, c
}

func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestSandboxWeCom(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	if err := c.CheckConnection(ctx); err != nil {
		t.Fatal(err)
	}
	emp := must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))(t)
	person := must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "李四", Phone: "13800000001"}))(t)
	way := must(c.AddContactWay(ctx, ContactWayInput{Users: []string{emp.UserID}, State: "ch42", SkipVerify: true}))(t)
	added := must(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: person.ID, EmployeeUserID: emp.UserID, ConfigID: way.ConfigID, RemarkMobiles: []string{"13800000001"}}))(t)

	if u := must(c.GetUser(ctx, "zhangsan"))(t); u.Name != "张三" {
		t.Errorf("GetUser = %+v", u)
	}
	rows, _ := must2(c.ListUserIDs(ctx, "", 0))(t)
	if len(rows) == 0 {
		t.Error("ListUserIDs returned nothing")
	}
	if d := must(c.ListDepartments(ctx, 0))(t); len(d) == 0 || d[0].ID == 0 {
		t.Errorf("ListDepartments = %+v", d)
	}
	if f := must(c.FollowUsers(ctx))(t); !contains(f, "zhangsan") {
		t.Errorf("FollowUsers = %v", f)
	}
	if ids := must(c.ListExternalContacts(ctx, "zhangsan"))(t); !contains(ids, added.ExternalUserID) {
		t.Errorf("ListExternalContacts = %v, want %s", ids, added.ExternalUserID)
	}
	d := must(c.GetExternalContact(ctx, added.ExternalUserID))(t)
	if d.Contact.UnionID != person.UnionID || len(d.Follows) != 1 || d.Follows[0].State != "ch42" ||
		len(d.Follows[0].RemarkMobiles) != 1 {
		t.Errorf("GetExternalContact = %+v", d)
	}
	rel, _ := must2(c.BatchGetByUser(ctx, []string{"zhangsan"}, "", 0))(t)
	if len(rel) != 1 || rel[0].Contact.ExternalUserID != added.ExternalUserID {
		t.Errorf("BatchGetByUser = %+v", rel)
	}
	if err := c.Remark(ctx, RemarkInput{UserID: "zhangsan", ExternalUserID: added.ExternalUserID, Remark: "VIP"}); err != nil {
		t.Error(err)
	}
	g := must(c.AddCorpTag(ctx, "", "来源", "抖音"))(t)
	if len(g.Tags) != 1 {
		t.Fatalf("AddCorpTag = %+v", g)
	}
	if err := c.MarkTag(ctx, "zhangsan", added.ExternalUserID, []string{g.Tags[0].ID}, nil); err != nil {
		t.Error(err)
	}
	if groups := must(c.CorpTags(ctx, nil, nil))(t); len(groups) == 0 {
		t.Error("CorpTags empty")
	}
	d = must(c.GetExternalContact(ctx, added.ExternalUserID))(t)
	if d.Follows[0].Remark != "VIP" || len(d.Follows[0].Tags) != 1 {
		t.Errorf("after remark/mark_tag: %+v", d.Follows[0])
	}
	if w := must(c.GetContactWay(ctx, way.ConfigID))(t); w.State != "ch42" {
		t.Errorf("GetContactWay = %+v", w)
	}
	if err := c.SendWelcomeMsg(ctx, added.WelcomeCode, "欢迎", []Link{{Title: "t", URL: "https://example.com"}}); err != nil {
		t.Error(err)
	}
	if err := c.DeleteContactWay(ctx, way.ConfigID); err != nil {
		t.Error(err)
	}
	if conv, err := c.UnionIDToExternalUserID(ctx, person.UnionID, person.MPOpenID); err != nil || conv.ExternalUserID+conv.PendingID == "" {
		t.Errorf("UnionIDToExternalUserID = %+v, %v", conv, err)
	}
	if _, err := c.SendAppMessage(ctx, AppMessage{ToUsers: []string{"zhangsan"}, Text: "hi"}); err != nil {
		t.Error(err)
	}
	if _, _, err := c.ListGroupChats(ctx, []string{"zhangsan"}, "", 0); err != nil {
		t.Error(err)
	}
	for _, agent := range []bool{false, true} {
		var s Signature
		if agent {
			s = must(c.AgentConfigSignature(ctx, "https://app.example.com/sidebar"))(t)
		} else {
			s = must(c.ConfigSignature(ctx, "https://app.example.com/sidebar"))(t)
		}
		if len(s.Signature) != 40 || s.NonceStr == "" {
			t.Errorf("signature %+v", s)
		}
	}
	if n := sb.Hits("/cgi-bin/gettoken"); n > 2 { // CheckConnection (2 secrets) only
		t.Errorf("gettoken hits = %d", n)
	}
}

func TestSandboxInjected42001RefreshesOnce(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	must(c.FollowUsers(ctx))(t)
	before := sb.Hits("/cgi-bin/gettoken")
	must(sb.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/get_follow_user_list", ErrCode: 42001, Times: 1}))(t)
	must(c.FollowUsers(ctx))(t)
	if n := sb.Hits("/cgi-bin/gettoken") - before; n != 1 {
		t.Fatalf("gettoken calls after 42001 = %d, want 1", n)
	}
	// Expired for real: same rule.
	sb.ExpireTokens()
	before = sb.Hits("/cgi-bin/gettoken")
	must(c.FollowUsers(ctx))(t)
	if n := sb.Hits("/cgi-bin/gettoken") - before; n != 1 {
		t.Fatalf("gettoken calls after expiry = %d, want 1", n)
	}
}

func TestSandboxErrcodesBecomeAPIError(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	for _, code := range []int{-1, 45009, 45033, 48002, 60020} {
		sb.ClearFaults()
		must(sb.AddFault(sandbox.Fault{Path: "/cgi-bin/externalcontact/get_follow_user_list", ErrCode: code, Times: 1}))(t)
		_, err := c.FollowUsers(ctx)
		var ae *APIError
		if !IsAPIError(err, code) || !asAPIError(err, &ae) || ae.Advice() == "" {
			t.Errorf("errcode %d: err = %v", code, err)
		}
	}
}

func TestSandboxOfficialAccountAndMiniProgram(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	q := must(c.OACreateQRCode(ctx, "ch42", 3600))(t)
	person := must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "王五", Phone: "13900000002"}))(t)
	if err := sb.Subscribe(sandbox.OAEventInput{WeChatUser: person.ID, Scene: "ch42"}); err != nil {
		t.Fatal(err)
	}
	if q.Ticket == "" || q.ImageURL == "" {
		t.Errorf("OACreateQRCode = %+v", q)
	}
	ids, _, _, err := c.OAFollowers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) > 0 {
		u := must(c.OAUser(ctx, person.OAOpenID))(t)
		if !u.Subscribe || u.UnionID != person.UnionID || u.QRSceneStr != "ch42" {
			t.Errorf("OAUser = %+v", u)
		}
		if b := must(c.OAUsersBatch(ctx, ids[:1]))(t); len(b) != 1 {
			t.Errorf("OAUsersBatch = %+v", b)
		}
		if _, err := c.OASendTemplate(ctx, TemplateMessage{ToOpenID: ids[0], TemplateID: sandbox.TemplateActivity,
			Data: map[string]string{"thing1": "x", "time2": "2026年12月1日", "thing3": "上海"}}); err != nil {
			t.Error(err)
		}
	} else {
		t.Log("sandbox has no OA followers by default; OAUser/OAUsersBatch/OASendTemplate not exercised")
	}
	if n := sb.Hits("/cgi-bin/token"); n != 1 {
		t.Errorf("OA token fetched %d times, want 1", n)
	}
	login := must(sb.MPLoginCode(person.ID))(t)
	if s := must(c.MPCodeToSession(ctx, login))(t); s.OpenID != person.MPOpenID || s.UnionID != person.UnionID {
		t.Errorf("MPCodeToSession = %+v, want %s/%s", s, person.MPOpenID, person.UnionID)
	}
	if _, err := c.MPCodeToSession(ctx, login); !IsAPIError(err) {
		t.Errorf("reused wx.login code: %v, want APIError", err)
	}
	phone := must(sb.MPPhoneCode(person.ID))(t)
	if p := must(c.MPPhoneNumber(ctx, phone))(t); p.PurePhoneNumber != "13900000002" {
		t.Errorf("MPPhoneNumber = %+v", p)
	}
	t.Run("oauth codes", func(t *testing.T) {
		t.Skip("sandbox has no Go API to mint WeCom/OA OAuth codes (only the browser authorize page); UserIDFromOAuthCode, OAExchangeCode and OAUserInfo are not exercised")
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func asAPIError(err error, target **APIError) bool {
	ae, ok := err.(*APIError)
	if ok {
		*target = ae
	}
	return ok
}

func must2[T any](v []T, s string, err error) func(*testing.T) ([]T, string) {
	return func(t *testing.T) ([]T, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, s
	}
}
