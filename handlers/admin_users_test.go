package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

func userPath(id int64, rest string) string {
	return "/admin/users/" + strconv.FormatInt(id, 10) + rest
}

// Revealing a phone and exporting each write exactly one audit row; a
// manager may export (masked) but not reveal.
func TestConsoleRevealAndExportAuditOnce(t *testing.T) {
	env := newConsoleEnv(t)
	form := url.Values{"identity": {strconv.FormatInt(env.phoneID, 10)}}
	if w := env.do(http.MethodPost, userPath(env.u1, "/reveal"), "manager", form); w.Code != http.StatusForbidden {
		t.Fatalf("manager reveal: %d", w.Code)
	}
	w := env.do(http.MethodPost, userPath(env.u1, "/reveal"), "admin", form)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "+8613912345678") {
		t.Fatalf("admin reveal: %d", w.Code)
	}
	if n := env.auditCount("phone_revealed"); n != 1 {
		t.Fatalf("phone_revealed rows: %d", n)
	}
	w = env.do(http.MethodPost, "/admin/users/export", "admin", url.Values{"phone": {"13912345678"}})
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "139****5678") || strings.Contains(body, "13912345678") {
		t.Fatalf("export: %d %q", w.Code, body)
	}
	if n := env.auditCount("users_exported"); n != 1 {
		t.Fatalf("users_exported rows: %d", n)
	}
	var detail string
	if err := env.db.Get(&detail, `SELECT detail::text FROM audit_log WHERE action = 'users_exported'`); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(detail, "1391234") {
		t.Fatalf("the searched phone is in the audit detail: %s", detail)
	}
}

// Managers see the customers of their departments' employees only; a user
// outside the scope does not exist for them.
func TestConsoleDataPermission(t *testing.T) {
	env := newConsoleEnv(t)
	w := env.do(http.MethodGet, "/admin/users", "manager", nil)
	body := w.Body.String()
	for _, id := range []int64{env.u1, env.u3} {
		if !strings.Contains(body, `href="`+userPath(id, "")+`"`) {
			t.Errorf("manager list lacks user %d", id)
		}
	}
	if strings.Contains(body, `href="`+userPath(env.u2, "")+`"`) {
		t.Error("manager list shows a user of another department")
	}
	if w := env.do(http.MethodGet, userPath(env.u2, ""), "manager", nil); w.Code != http.StatusNotFound {
		t.Errorf("manager opens another department's user: %d", w.Code)
	}
	if w := env.do(http.MethodGet, userPath(env.u2, ""), "admin", nil); w.Code != http.StatusOK {
		t.Errorf("admin opens user: %d", w.Code)
	}
	w = env.do(http.MethodGet, userPath(env.u1, "/merge?with="+strconv.FormatInt(env.u2, 10)), "manager", nil)
	if w.Code != http.StatusNotFound {
		t.Errorf("manager previews a merge with an unseen user: %d", w.Code)
	}
}

func TestConsoleSearchAndPaging(t *testing.T) {
	env := newConsoleEnv(t)
	// ext2 carries the tag on a live relation; ext3 carried it on a relation
	// the customer since deleted, which no longer counts
	env.exec(`INSERT INTO wecom_tags (corp_id, tag_id, name) VALUES ($1, 'etVIP', '重要客户')`, testCorp)
	env.exec(`UPDATE wecom_follows SET tag_ids = '{etVIP}' WHERE corp_id = $1 AND external_userid IN ('ext2', 'ext3')`, testCorp)
	env.exec(`UPDATE wecom_follows SET deleted_at = now(), deleted_by_customer = true WHERE corp_id = $1 AND external_userid = 'ext3'`, testCorp)
	cases := []struct {
		name  string
		query string
		want  []int64
	}{
		{"phone, spaced", "phone=139+1234+5678", []int64{env.u1}},
		{"phone, +86", "phone=%2B86+139-1234-5678", []int64{env.u1}},
		{"phone unknown", "phone=13700001111", nil},
		{"name", "name=ext2", []int64{env.u2}},
		{"kind", "kind=phone", []int64{env.u1}},
		{"channel", "channel=poster", []int64{env.u1, env.u2, env.u3}},
		{"tag by id", "tag=etVIP", []int64{env.u2}},
		{"tag by name", "tag=" + url.QueryEscape("重要客户"), []int64{env.u2}},
		{"tag unknown", "tag=etNONE", nil},
		{"active window", "from=2000-01-01&to=2000-01-02", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := env.do(http.MethodGet, "/admin/users?"+c.query, "admin", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("%d", w.Code)
			}
			if got := strings.Count(w.Body.String(), `data-testid="user-row"`); got != len(c.want) {
				t.Fatalf("%d rows, want %d", got, len(c.want))
			}
			for _, id := range c.want {
				if !strings.Contains(w.Body.String(), `href="`+userPath(id, "")+`"`) {
					t.Errorf("user %d missing", id)
				}
			}
		})
	}
	if w := env.do(http.MethodGet, "/admin/users?phone=12", "admin", nil); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("bad phone: %d", w.Code)
	}
	// keyset paging: one user a page, newest first, each once
	svc := env.consoleUsers()
	admin := services.Operator{Kind: "local", ID: "1", Role: services.RoleAdmin}
	var seen []int64
	f := services.UserFilter{Limit: 1}
	for i := 0; i < 5; i++ {
		p, err := svc.FindUsers(context.Background(), admin, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Users {
			seen = append(seen, u.ID)
		}
		if p.Next == 0 {
			break
		}
		f.After = p.Next
	}
	if len(seen) != 3 || seen[0] < seen[1] || seen[1] < seen[2] {
		t.Fatalf("pages: %v", seen)
	}
}

// Merge with preview, split, and a conflict resolution, through HTTP.
func TestConsoleMergeSplitResolve(t *testing.T) {
	env := newConsoleEnv(t)
	u4 := env.link(services.IdentityInput{Kind: services.KindExternalUserID, Scope: testCorp, Key: "ext4"}).UserID
	env.exec(`INSERT INTO wecom_follows (corp_id, userid, external_userid) VALUES ($1, 'rep', 'ext4')`, testCorp)

	w := env.do(http.MethodGet, userPath(env.u1, "/merge?with="+strconv.FormatInt(u4, 10)), "manager", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `data-testid="merge-confirm"`) {
		t.Fatalf("preview: %d", w.Code)
	}
	w = env.do(http.MethodGet, userPath(env.u1, "/merge?with="+strconv.FormatInt(env.u3, 10)), "admin", nil)
	if !strings.Contains(w.Body.String(), `data-testid="merge-violations"`) || strings.Contains(w.Body.String(), `data-testid="merge-confirm"`) {
		t.Fatal("a merge breaking the unionid rule is offered")
	}
	w = env.do(http.MethodPost, userPath(env.u1, "/merge"), "manager", url.Values{"with": {strconv.FormatInt(u4, 10)}, "reason": {"同一人"}})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), userPath(env.u1, "")) {
		t.Fatalf("merge: %d %s", w.Code, w.Header().Get("Location"))
	}
	if n := env.auditCount("users_merged"); n != 1 {
		t.Fatalf("users_merged rows: %d", n)
	}
	var ext4 int64
	if err := env.db.Get(&ext4, `SELECT id FROM identities WHERE key = 'ext4'`); err != nil {
		t.Fatal(err)
	}
	w = env.do(http.MethodPost, userPath(env.u1, "/split"), "admin", url.Values{"identity": {strconv.FormatInt(ext4, 10)}})
	if w.Code != http.StatusSeeOther || env.auditCount("user_split") != 1 {
		t.Fatalf("split: %d", w.Code)
	}
	w = env.do(http.MethodPost, "/admin/conflicts/"+strconv.FormatInt(env.conflict, 10)+"/resolve", "manager", url.Values{"resolution": {"dismiss"}})
	if w.Code != http.StatusSeeOther || env.auditCount("conflict_resolved") != 1 {
		t.Fatalf("resolve: %d", w.Code)
	}
	if w := env.do(http.MethodGet, "/admin/conflicts", "admin", nil); strings.Contains(w.Body.String(), `data-testid="conflict-row"`) {
		t.Fatal("the dismissed conflict is still open")
	}
}
