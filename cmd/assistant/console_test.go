package main

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

// consoleKey is the ENCRYPTION_KEY of the console's browser tests, so that
// the test can link identities with the server's blind index.
var consoleKey = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))

// consoleFixture is a running server with an admin account and identity
// services on its database.
type consoleFixture struct {
	dsn      string
	url      string
	password string
	ids      *services.IdentityService
}

func newConsoleFixture(t *testing.T, env map[string]string) *consoleFixture {
	t.Helper()
	dsn := pgtest.NewDSN(t)
	keys, cur, err := pii.ParseKeyring(consoleKey)
	if err != nil {
		t.Fatal(err)
	}
	box, err := pii.NewBox(keys, cur)
	if err != nil {
		t.Fatal(err)
	}
	f := &consoleFixture{dsn: dsn, password: createAdmin(t, dsn, "ops"),
		ids: services.NewIdentityService(pgtest.Open(t, dsn), box)}
	full := map[string]string{"DATABASE_URL": dsn, "ENCRYPTION_KEY": consoleKey, "SANDBOX": "off"}
	for k, v := range env {
		full[k] = v
	}
	f.url = startServer(t, full).URL
	return f
}

func (f *consoleFixture) link(t *testing.T, ids ...services.IdentityInput) int64 {
	t.Helper()
	r, err := f.ids.Link(context.Background(), services.Observation{Source: "form", Ref: "f:1", Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	return r.UserID
}

// signIn signs the browser in as the local admin and disarms data-confirm.
func (f *consoleFixture) signIn(next string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Navigate(f.url + "/admin/login?next=" + next),
		chromedp.SendKeys(`[data-testid="login-name"]`, "ops"),
		chromedp.SendKeys(`[data-testid="login-password"]`, f.password),
		chromedp.Click(`[data-testid="login-submit"]`),
		chromedp.WaitVisible(`[data-testid="admin-user"]`),
	}
}

// navigateBy clicks sel and waits for want on the next page: the old page
// is marked first, so an element of the page being left never counts.
func navigateBy(sel, want string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Evaluate(`document.body.setAttribute('data-leaving', '1')`, nil),
		chromedp.Click(sel),
		chromedp.WaitVisible(`body:not([data-leaving]) ` + want),
	}
}

// noConfirm answers every data-confirm question with yes.
func noConfirm() chromedp.Action {
	return chromedp.Evaluate(`window.confirm = function () { return true; }`, nil)
}

// An admin finds a person by phone (typed as people type it), previews and
// confirms a merge with another user, then splits an identity back off.
func TestConsoleSearchMergeSplitInBrowser(t *testing.T) {
	f := newConsoleFixture(t, nil)
	a := f.link(t, services.IdentityInput{Kind: services.KindPhone, Key: "13912345678", Verified: true,
		Attrs: services.Attributes{Name: "张三"}}, services.IdentityInput{Kind: services.KindUnionID, Key: "oUnionA"})
	b := f.link(t, services.IdentityInput{Kind: services.KindCRMLead, Key: "lead-42", Attrs: services.Attributes{Name: "张三 (CRM)"}})
	f.link(t, services.IdentityInput{Kind: services.KindPhone, Key: "13700001111"})
	ctx := browsertest.New(t, "", 90*time.Second)

	var rows int
	var phone, survivor, log, newUser string
	err := chromedp.Run(ctx,
		f.signIn("/admin/users"),
		chromedp.SendKeys(`[data-testid="search-phone"]`, "139 1234 5678"),
		navigateBy(`[data-testid="search-submit"]`, `[data-testid="users-table"]`),
		chromedp.Evaluate(`document.querySelectorAll('[data-testid="user-row"]').length`, &rows),
		chromedp.Text(`[data-testid="user-phone"]`, &phone),
		navigateBy(`[data-testid="user-link"]`, `[data-testid="merge-with"]`),
		chromedp.SendKeys(`[data-testid="merge-with"]`, strconv.FormatInt(b, 10)),
		navigateBy(`[data-testid="merge-preview"]`, `[data-testid="merge-confirm"]`),
		chromedp.Text(`[data-testid="merge-survivor"]`, &survivor),
		chromedp.SendKeys(`[data-testid="merge-reason"]`, "同一人"),
		navigateBy(`[data-testid="merge-confirm"]`, `[data-testid="merge-log-row"]`),
		chromedp.Text(`[data-testid="merge-log"]`, &log),
		noConfirm(),
		chromedp.Click(`[data-testid="split-crm_lead"]`),
		navigateBy(`[data-testid="split-submit"]`, `[data-testid="identities"]`),
		chromedp.Text(`[data-testid="user-id"]`, &newUser),
	)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || phone != "139****5678" {
		t.Fatalf("phone search: %d rows, phone %q", rows, phone)
	}
	if survivor != "#"+strconv.FormatInt(a, 10) || !strings.Contains(log, "同一人") {
		t.Fatalf("merge: survivor %q, log %q", survivor, log)
	}
	if newUser == "营销用户 #"+strconv.FormatInt(a, 10) || !strings.HasPrefix(newUser, "营销用户 #") {
		t.Fatalf("split landed on %q", newUser)
	}
	browsertest.Screenshot(t, ctx, "console-split")
}
