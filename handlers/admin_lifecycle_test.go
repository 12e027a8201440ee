package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketing-assistant/assistant/services"
)

func TestConsoleArchiveInactive(t *testing.T) {
	env := newConsoleEnv(t)
	old, err := env.ids.Link(context.Background(), services.Observation{Source: "test", Ref: "old",
		OccurredAt: time.Now().AddDate(-1, 0, 0), Identities: []services.IdentityInput{{Kind: services.KindCRMLead, Key: "L-old"}}})
	if err != nil {
		t.Fatal(err)
	}
	if w := env.do(http.MethodPost, "/admin/lifecycle/archive", "admin", url.Values{"days": {"180"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("archive: %d", w.Code)
	}
	link := `href="` + userPath(old.UserID, "") + `"`
	if w := env.do(http.MethodGet, "/admin/users", "admin", nil); strings.Contains(w.Body.String(), link) ||
		!strings.Contains(w.Body.String(), `href="`+userPath(env.u1, "")+`"`) {
		t.Fatal("the active list is wrong after archiving")
	}
	if w := env.do(http.MethodGet, "/admin/users?archived=1", "admin", nil); !strings.Contains(w.Body.String(), link) {
		t.Fatal("the archived user is not in the list with archived ones")
	}
	// active again: the next run restores it
	env.link(services.IdentityInput{Kind: services.KindCRMLead, Key: "L-old"})
	if w := env.do(http.MethodPost, "/admin/lifecycle/archive", "admin", url.Values{"days": {"180"}}); w.Code != http.StatusSeeOther ||
		!strings.Contains(w.Header().Get("Location"), url.QueryEscape("恢复 1 人")) {
		t.Fatalf("second run: %d %s", w.Code, w.Header().Get("Location"))
	}
}

// Erasure removes the person's data, keeps the fact and anonymous counts,
// and frees their keys.
func TestConsoleErasePerson(t *testing.T) {
	env := newConsoleEnv(t)
	form := url.Values{"user": {strconv.FormatInt(env.u1, 10)}, "reason": {"申请 #2026-17"}}
	if w := env.do(http.MethodPost, "/admin/lifecycle/erase", "manager", form); w.Code != http.StatusForbidden {
		t.Fatalf("manager erases: %d", w.Code)
	}
	if w := env.do(http.MethodPost, "/admin/lifecycle/erase", "admin", form); w.Code != http.StatusSeeOther {
		t.Fatalf("erase: %d", w.Code)
	}
	if w := env.do(http.MethodPost, "/admin/lifecycle/erase", "admin", form); w.Code != http.StatusConflict {
		t.Fatalf("erase twice: %d", w.Code)
	}
	if w := env.do(http.MethodGet, "/admin/users?phone=13912345678", "admin", nil); strings.Contains(w.Body.String(), `data-testid="user-row"`) {
		t.Fatal("the erased phone still finds someone")
	}
	var left int
	if err := env.db.Get(&left, `SELECT count(*) FROM identities WHERE user_id = $1 AND key NOT LIKE 'erased:%'`, env.u1); err != nil || left != 0 {
		t.Fatalf("identities left: %d %v", left, err)
	}
	if err := env.db.Get(&left, `SELECT count(*) FROM moments m JOIN identities i ON i.id = m.identity_id WHERE i.user_id = $1`, env.u1); err != nil || left != 0 {
		t.Fatalf("moments left: %d %v", left, err)
	}
	var counts string
	if err := env.db.Get(&counts, `SELECT moment_counts::text FROM data_erasures WHERE user_id = $1`, env.u1); err != nil ||
		!strings.Contains(counts, `"form_submitted": {"poster": 2}`) {
		t.Fatalf("anonymous counts: %s %v", counts, err)
	}
	if env.auditCount("person_erased") != 1 {
		t.Fatal("erasure not audited once")
	}
	again := env.link(services.IdentityInput{Kind: services.KindUnionID, Key: "uA"})
	if again.Outcome != services.OutcomeCreated || again.UserID == env.u1 {
		t.Fatalf("the erased unionid still links: %+v", again)
	}
}
