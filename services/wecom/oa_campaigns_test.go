package wecom

import (
	"context"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
)

// Every OA campaign call of the adapter against the sandbox: QR codes
// (temporary and permanent, refused input), the template library, template
// sends with client_msg_id dedup and the real refusals.
func TestSandboxOACampaignCalls(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	tmp := must(c.OACreateQRCode(ctx, "poster_1", 7*24*3600))(t)
	perm := must(c.OACreateQRCode(ctx, "poster_2", 0))(t)
	if tmp.ExpireSeconds != 7*24*3600 || perm.ExpireSeconds != 0 || !strings.HasPrefix(perm.URL, "https://weixin.qq.com/q/") ||
		!strings.Contains(perm.ImageURL, "showqrcode?ticket=") {
		t.Fatalf("qrcodes %+v %+v", tmp, perm)
	}
	if _, err := c.OACreateQRCode(ctx, strings.Repeat("x", 65), 0); err == nil {
		t.Error("a 65-character scene was accepted")
	}

	tpls := must(c.OATemplates(ctx))(t)
	if len(tpls) < 3 || tpls[0].TemplateID != sandbox.TemplateActivity || !strings.Contains(tpls[0].Content, "{{thing1.DATA}}") {
		t.Fatalf("templates %+v", tpls)
	}

	fan := must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "模板"}))(t)
	stranger := must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "未关注"}))(t)
	if err := sb.Subscribe(sandbox.OAEventInput{WeChatUser: fan.ID}); err != nil {
		t.Fatal(err)
	}
	msg := TemplateMessage{ToOpenID: fan.OAOpenID, TemplateID: sandbox.TemplateActivity, URL: "https://app.example.com/f/x",
		Data: map[string]string{"thing1": "春季试驾会", "time2": "2026年12月1日", "thing3": "上海"}}
	id1 := must(c.OASendTemplateOnce(ctx, msg, "job-1-1"))(t)
	id2 := must(c.OASendTemplateOnce(ctx, msg, "job-1-1"))(t)
	if id1 == 0 || id1 != id2 || len(sb.Outbox(sandbox.OutboxTemplate)) != 1 {
		t.Fatalf("client_msg_id dedup: %d %d, outbox %d", id1, id2, len(sb.Outbox(sandbox.OutboxTemplate)))
	}
	for code, m := range map[int]TemplateMessage{
		40003: {ToOpenID: "o-nobody", TemplateID: msg.TemplateID, Data: msg.Data},
		40037: {ToOpenID: fan.OAOpenID, TemplateID: "nope", Data: msg.Data},
		43004: {ToOpenID: stranger.OAOpenID, TemplateID: msg.TemplateID, Data: msg.Data},
		47003: {ToOpenID: fan.OAOpenID, TemplateID: msg.TemplateID, Data: map[string]string{"thing1": "x"}},
	} {
		if _, err := c.OASendTemplateOnce(ctx, m, ""); !IsAPIError(err, code) {
			t.Errorf("want %d, got %v", code, err)
		}
	}
	limit := 1
	if err := sb.SetTemplateControl(sandbox.TemplateControl{DailyLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OASendTemplateOnce(ctx, msg, "job-1-2"); !IsAPIError(err, 45009) {
		t.Errorf("over the daily limit: %v", err)
	}
}
