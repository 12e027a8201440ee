package wecom

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
)

// PowerWeChat's own server side (VerifyURL, Notify) verifies and decrypts
// what the sandbox really sends: the URL check when the callback URL is
// saved, then an encrypted add_external_contact event.
func TestSDKServerDecryptsSandboxCallbacks(t *testing.T) {
	sb, c := startSandbox(t)
	events := make(chan CallbackEvent, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			echo, err := c.VerifyCallbackURL(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			_, _ = w.Write(echo)
			return
		}
		ev, err := c.ReadCallback(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		events <- ev
		_, _ = w.Write([]byte("success"))
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if err := sb.SetWeComCallback(ctx, srv.URL); err != nil {
		t.Fatalf("URL verification through the SDK: %v", err)
	}
	if _, err := sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}); err != nil {
		t.Fatal(err)
	}
	p, err := sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "赵六"})
	if err != nil {
		t.Fatal(err)
	}
	added, err := sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: p.ID, EmployeeUserID: "zhangsan", State: "poster"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.ChangeType != "add_external_contact" {
				continue // e.g. the employee's change_contact
			}
			if ev.UserID != "zhangsan" || ev.ExternalUserID != added.ExternalUserID || ev.State != "poster" || ev.WelcomeCode == "" {
				t.Fatalf("decrypted event %+v", ev)
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("no add_external_contact callback decrypted by the SDK")
		}
	}
}
