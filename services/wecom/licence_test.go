package wecom

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/sandbox"
)

// TestInterfaceLicences: with licences on (third-party and 代开发 apps), a
// member without an interop account gets 701008 with advice, and an app
// message to a member without a basic account comes back in
// UnlicensedUsers (accepted by WeCom, not delivered).
func TestInterfaceLicences(t *testing.T) {
	sb, c := startSandbox(t)
	ctx := context.Background()
	must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "zhangsan", Name: "张三"}))(t)
	must(sb.CreateEmployee(sandbox.NewEmployee{UserID: "lisi", Name: "李四"}))(t)
	person := must(sb.CreateWeChatUser(sandbox.NewWeChatUser{Nickname: "王五"}))(t)
	added := must(sb.AddCustomer(sandbox.AddCustomerInput{WeChatUser: person.ID, EmployeeUserID: "lisi"}))(t)
	no := false
	if err := sb.SetLicences(sandbox.LicenceInput{Mode: sandbox.LicenceThirdParty, UserID: "lisi", Basic: &no, Interop: &no}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetExternalContact(ctx, added.ExternalUserID)
	var ae *APIError
	if !IsAPIError(err, 701008) || !asAPI(err, &ae) || !strings.Contains(ae.Advice(), "互通帐号") {
		t.Fatalf("GetExternalContact of an unlicensed member's customer: %v", err)
	}
	res, err := c.SendAppMessage(ctx, AppMessage{ToUsers: []string{"zhangsan", "lisi"}, Text: "hi"})
	if err != nil || !slices.Equal(res.UnlicensedUsers, []string{"lisi"}) || len(res.InvalidUsers) != 0 {
		t.Fatalf("SendAppMessage = %+v, %v", res, err)
	}
	delivered := sb.Outbox(sandbox.OutboxAppMessage)
	if len(delivered) != 1 || !strings.Contains(delivered[0].Keys["touser"].(string), "zhangsan") ||
		strings.Contains(delivered[0].Keys["touser"].(string), "lisi") {
		t.Fatalf("outbox %+v", delivered)
	}
	// a self-built app is not subject to licences
	if err := sb.SetLicences(sandbox.LicenceInput{Mode: sandbox.LicenceNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetExternalContact(ctx, added.ExternalUserID); err != nil {
		t.Fatalf("licences off: %v", err)
	}
}

func asAPI(err error, target **APIError) bool { return errors.As(err, target) }
