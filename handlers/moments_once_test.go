package handlers

import (
	"context"
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
