package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
	"github.com/marketing-assistant/assistant/services"
)

// A customer added by an employee and a fan's subscription are each reported
// twice in production: by the callback and again by the next full sync. Both
// paths must record one moment per happening.
func TestCallbackAndSyncRecordOneMoment(t *testing.T) {
	env := newWeComEnv(t, false)
	ctx := context.Background()
	must[any](t)(env.sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))
	p := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "赵六"}))
	added := must[sandbox.AddCustomerResult](t)(env.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "zhangsan"}))
	if err := env.sb.Subscribe(sandbox.OAEventInput{WeChatUser: p.ID}); err != nil {
		t.Fatal(err)
	}
	env.settle()
	env.waitFor("the add callback", func() bool {
		return env.momentsOn("wecom_added", "wecom_external_userid", added.ExternalUserID) == 1
	})
	env.waitFor("the subscribe callback", func() bool { return env.momentsOn("oa_subscribed", "oa_openid", p.OAOpenID) == 1 })

	sync := services.NewSyncService(env.db, env.box, services.NewIdentityService(env.db, env.box), quietLog())
	sync.Backoff = func(int) time.Duration { return time.Millisecond }
	for _, kind := range []services.SyncKind{services.SyncContacts, services.SyncFans} {
		if _, err := sync.Run(ctx, mustTarget(t, env), kind, "test"); err != nil {
			t.Fatalf("sync %s: %v", kind, err)
		}
	}
	if n := env.momentsOn("wecom_added", "wecom_external_userid", added.ExternalUserID); n != 1 {
		t.Fatalf("wecom_added moments after callback + sync = %d, want 1", n)
	}
	if n := env.momentsOn("oa_subscribed", "oa_openid", p.OAOpenID); n != 1 {
		t.Fatalf("oa_subscribed moments after callback + sync = %d, want 1", n)
	}
}

func mustTarget(t *testing.T, env *wecomEnv) services.SyncTarget {
	t.Helper()
	target, err := services.ConnectionTargets{Conn: env.provider}.SyncTarget(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// channelTags is a channel that tags every customer it brings.
type channelTags struct{ tags map[string][]string }

func (c channelTags) WelcomeFor(_ context.Context, _, state string) (services.WelcomeMessage, bool, error) {
	t, ok := c.tags[state]
	return services.WelcomeMessage{TagIDs: t}, ok, nil
}

// A customer added through a channel QR code gets the channel's corp tags
// (mark_tag, which WeCom answers with no callback), and the timeline says so.
func TestChannelTagsAppliedOnAdd(t *testing.T) {
	env := newWeComEnv(t, false)
	must[any](t)(env.sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))
	tag := must[sandbox.Tag](t)(env.sb.CreateCorpTag(sandbox.NewCorpTag{GroupName: "渠道", Name: "海报"}))
	env.proc.Welcomes = channelTags{tags: map[string][]string{"poster": {tag.ID}}}
	p := must[sandbox.WeChatUser](t)(env.sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "赵六"}))
	added := must[sandbox.AddCustomerResult](t)(env.sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID,
		EmployeeUserID: "zhangsan", State: "poster"}))
	env.settle()
	env.waitFor("the tagged moment", func() bool {
		return env.momentsOn("wecom_tagged", "wecom_external_userid", added.ExternalUserID) == 1
	})
	marks := env.sb.Outbox(sandbox.OutboxMarkTag)
	if len(marks) != 1 || !strings.Contains(string(marks[0].Payload), tag.ID) {
		t.Fatalf("mark_tag outbox: %+v", marks)
	}
	if n := env.count(`SELECT count(*) FROM wecom_follows WHERE external_userid = $1 AND $2 = ANY (tag_ids)`,
		added.ExternalUserID, tag.ID); n != 1 {
		t.Fatalf("mirrored relation does not carry the channel tag (%d rows)", n)
	}
}
