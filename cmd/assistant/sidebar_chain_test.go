package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/web/browsertest"
)

const desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"

// The whole loop of issue 6 on the demo server: an employee opens the
// sidebar for a customer chat and sends a form from it; the customer opens
// the link in WeChat (OA OAuth through the sandbox) and registers; the
// sidebar's timeline then shows the view and the submission, attributed to
// the employee, on the chat's customer.
func TestSidebarSendThenCustomerRegisters(t *testing.T) {
	dsn := pgtest.NewDSN(t)
	out := strings.Join(startDemoServer(t, dsn, t.TempDir()), "\n")
	m := regexp.MustCompile(`sidebar\s+(http\S+)/sidebar\s+\(as employee (\S+) chatting with customer (\S+);`).FindStringSubmatch(out)
	c := regexp.MustCompile(`sandbox\s+(http\S+)/\s`).FindStringSubmatch(out)
	if m == nil || c == nil {
		t.Fatalf("demo output lacks the sidebar or sandbox line:\n%s", out)
	}
	base, employee, ext, control := m[1], m[2], m[3], c[1]
	_, nickname := customerPerson(t, control, employee, ext)

	staff := newBrowser(t, desktopUA)
	staff.pick = employee
	if status, page := staff.get(base + "/sidebar"); status != http.StatusOK || !strings.Contains(page, "ww-shim") {
		t.Fatalf("sidebar sign-in: %d %.300s", status, page)
	}
	_, materials := staff.get(base + "/sidebar/c/" + ext + "/materials")
	lm := regexp.MustCompile(`data-link="([^"]+)"`).FindStringSubmatch(materials)
	if lm == nil {
		t.Fatalf("no material to send: %.500s", materials)
	}
	link := strings.ReplaceAll(lm[1], "&amp;", "&")
	slug := strings.TrimPrefix(must(url.Parse(link)).Path, "/f/")
	// What sidebar.js does once ww.sendChatMessage succeeded.
	if status, _, _ := staff.do(http.MethodPost, base+"/sidebar/c/"+ext+"/materials/"+slug+"/sent", url.Values{}); status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("recording the send: %d", status)
	}

	// The customer opens the chat message in WeChat: chromium with WeChat's
	// user agent, the sandbox's OA OAuth page, the consent error, the success.
	ctx := browsertest.New(t, browsertest.WeChatUA, 90*time.Second)
	fillAndSubmit(t, ctx, link, nickname, "王小明", "13987651234")

	db := pgtest.Open(t, dsn)
	var n int
	if err := db.Get(&n, `SELECT count(DISTINCT m.kind) FROM moments m JOIN identities i ON i.id = m.identity_id
WHERE i.user_id = (SELECT user_id FROM identities WHERE kind = 'wecom_external_userid' AND key = $1)
  AND m.kind IN ('material_sent', 'form_viewed', 'form_submitted') AND m.employee_userid = $2`, ext, employee); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("the chat's customer holds %d of material_sent, form_viewed, form_submitted by %s", n, employee)
	}
	_, timeline := staff.get(base + "/sidebar/c/" + ext + "/timeline")
	if strings.Count(timeline, `data-testid="moment-employee"`) < 3 {
		t.Fatalf("sidebar timeline does not show the three moments with their employee: %.800s", timeline)
	}
}

// customerPerson finds, through the sandbox control API, the WeChat person
// behind the employee's customer ext: their id and nickname.
func customerPerson(t *testing.T, control, employee, ext string) (string, string) {
	t.Helper()
	resp, err := http.Get(control + "/api/customers?limit=1000&employee=" + url.QueryEscape(employee))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cs []struct {
		ID             string `json:"id"`
		Nickname       string `json:"nickname"`
		ExternalUserID string `json:"external_userid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ExternalUserID == ext {
			return c.ID, c.Nickname
		}
	}
	t.Fatalf("customer %s of %s not in the sandbox", ext, employee)
	return "", ""
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
