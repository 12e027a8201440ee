package services

import (
	"context"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
)

// Create, list with adds / registrations / conversion, look up by state,
// delete: against the sandbox.
func TestChannelsRoundTrip(t *testing.T) {
	e := newSyncEnv(t)
	e.seed(t, sandbox.SeedInput{Employees: 2, WeChatUsers: 10, ContactsPerEmployee: 0})
	ctx := context.Background()
	chs := NewChannelService(e.db, "https://app.example.com/")
	corp := e.t.CorpID
	// a published form to link, when the forms feature is installed
	var slug string
	if forms, _ := chs.PublishedForms(ctx); forms == nil {
		e.db.MustExec(`INSERT INTO forms (slug, title, consent_text, published) VALUES ('abcdefghijklmnop', '报名', '同意', true)`)
		slug = "abcdefghijklmnop"
	}
	in := ChannelInput{Code: "poster_2026", Name: "海报", Employees: []string{"emp001", "emp002"}, TagIDs: []string{"et1"},
		WelcomeText: "你好，欢迎！", FormSlug: slug, SkipVerify: true}
	ch, err := chs.CreateChannel(ctx, e.t.Client, corp, in, channelAdmin)
	if err != nil {
		t.Fatal(err)
	}
	way, err := e.t.Client.GetContactWay(ctx, ch.ConfigID)
	if err != nil || way.State != "poster_2026" || len(way.Users) != 2 {
		t.Fatalf("contact way in WeCom = %+v, %v", way, err)
	}
	if _, err := chs.CreateChannel(ctx, e.t.Client, corp, in, channelAdmin); ErrorCode(err) != ECONFLICT {
		t.Errorf("same code again: %v, want ECONFLICT", err)
	}
	bad := in
	bad.Code = "含中文"
	if _, err := chs.CreateChannel(ctx, e.t.Client, corp, bad, channelAdmin); ErrorFields(err)["code"] == "" {
		t.Errorf("bad code: %v", err)
	}

	// three people add through the QR code; one of them registers
	var first string
	for i := range 3 {
		p, err := e.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "访客"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "emp001", ConfigID: ch.ConfigID})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = p.UnionID
		}
		_ = r
	}
	if _, err := e.svc.Run(ctx, e.t, SyncContacts, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ids.Link(ctx, Observation{Source: "form", Ref: "f1",
		Identities: []IdentityInput{{Kind: KindUnionID, Key: first}, {Kind: KindPhone, Key: "13700001111", Verified: true}},
		Moments:    []MomentInput{{Identity: 1, Kind: "form_submitted", DedupKey: "form:f1"}}}); err != nil {
		t.Fatal(err)
	}
	list, err := chs.Channels(ctx, corp)
	if err != nil || len(list) != 1 {
		t.Fatalf("Channels = %+v, %v", list, err)
	}
	if s := list[0]; s.Adds != 3 || s.Registrations != 1 || s.Conversion() < 0.33 || s.Conversion() > 0.34 {
		t.Errorf("stats: adds %d, registrations %d, conversion %.2f", s.Adds, s.Registrations, s.Conversion())
	}

	got, ok, err := chs.ChannelByState(ctx, corp, "poster_2026")
	if err != nil || !ok || got.WelcomeText != "你好，欢迎！" || len(got.TagIDs) != 1 {
		t.Fatalf("ChannelByState = %+v %v %v", got, ok, err)
	}
	if slug != "" && (len(got.Links) != 1 || !strings.HasPrefix(got.Links[0].URL, "https://app.example.com/f/"+slug+"?") ||
		!strings.Contains(got.Links[0].URL, "utm_campaign=poster_2026")) {
		t.Errorf("links = %+v", got.Links)
	}
	if msg, ok, err := chs.WelcomeFor(ctx, corp, "poster_2026"); err != nil || !ok || msg.Text != "你好，欢迎！" {
		t.Errorf("WelcomeFor = %+v %v %v", msg, ok, err)
	}

	if err := chs.DeleteChannel(ctx, e.t.Client, corp, ch.ID, channelAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := e.t.Client.GetContactWay(ctx, ch.ConfigID); err == nil {
		t.Error("contact way still in WeCom after delete")
	}
	if _, ok, _ := chs.ChannelByState(ctx, corp, "poster_2026"); ok {
		t.Error("deleted channel still found by state")
	}
	if err := chs.DeleteChannel(ctx, e.t.Client, corp, ch.ID, channelAdmin); ErrorCode(err) != ENOTFOUND {
		t.Errorf("delete twice: %v", err)
	}
}
