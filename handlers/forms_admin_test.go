package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

// TestFormSubmissionsByRole: the manager of 销售部 reads and exports the
// submissions of rep's customers only, masked; the admin sees them all
// with full phones; managers are refused the form editor and the hosts.
func TestFormSubmissionsByRole(t *testing.T) {
	env := newConsoleEnv(t)
	ctx := context.Background()
	f, err := env.forms.CreateForm(ctx, services.FormInput{Title: "试驾报名", ConsentText: "同意隐私政策", Published: true,
		PrivacyURL: "http://example.test/privacy",
		Fields:     []services.Field{{Kind: services.FieldName, Label: "姓名"}}}, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"13912345678", "13700001111"} { // u1's phone (rep's customer); a stranger's
		if _, err := env.subs.Submit(ctx, f.Slug, services.SubmissionInput{Phone: p, Consent: true, Token: "byrole-" + p,
			Answers: map[string][]string{"name": {"客户"}}}); err != nil {
			t.Fatal(err)
		}
	}
	env.link(services.IdentityInput{Kind: services.KindExternalUserID, Scope: testCorp, Key: "ext2"},
		services.IdentityInput{Kind: services.KindPhone, Key: "13700001111"}) // now other's customer (u2)
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	for _, path := range []string{base + "/submissions", base + "/submissions.csv"} {
		w := env.do(http.MethodGet, path, "manager", nil)
		if b := w.Body.String(); w.Code != 200 || !strings.Contains(b, "139****5678") || strings.Contains(b, "1111") {
			t.Errorf("manager %s: %d\n%s", path, w.Code, b)
		}
		w = env.do(http.MethodGet, path, "admin", nil)
		if b := w.Body.String(); w.Code != 200 || !strings.Contains(b, "+8613912345678") || !strings.Contains(b, "+8613700001111") {
			t.Errorf("admin %s: %d\n%s", path, w.Code, b)
		}
	}
	if w := env.do(http.MethodGet, "/admin/forms", "manager", nil); w.Code != 200 || strings.Contains(w.Body.String(), `data-testid="hosts-form"`) ||
		strings.Contains(w.Body.String(), `data-testid="form-edit"`) {
		t.Errorf("manager's form list offers editing: %d", w.Code)
	}
	for _, path := range []string{base + "/edit", "/admin/forms/new"} {
		if w := env.do(http.MethodGet, path, "manager", nil); w.Code != http.StatusForbidden {
			t.Errorf("manager %s: %d", path, w.Code)
		}
	}
	form := map[string][]string{"title": {"改掉"}, "consent_text": {"同意"}, "hosts": {"evil.example.net"}}
	for _, path := range []string{base, "/admin/forms", "/admin/forms/hosts"} {
		if w := env.do(http.MethodPost, path, "manager", form); w.Code != http.StatusForbidden {
			t.Errorf("manager POST %s: %d", path, w.Code)
		}
	}
	if hosts, err := env.forms.RedirectHosts(ctx); err != nil || len(hosts) != 0 {
		t.Errorf("hosts: %v %v", hosts, err)
	}
}
