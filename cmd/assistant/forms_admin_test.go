package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

// The admin defines a form without JavaScript (indexed field rows, blank
// rows dropped), previews it unpublished, and only then can customers open it.
func TestFormAdminEditorAndPreview(t *testing.T) {
	env := newFormsEnv(t, formsEnvOptions{})
	if _, err := env.Admin.CreateAdmin(context.Background(), "ops", "a long enough password", services.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	a := newBrowser(t, "Mozilla/5.0 Chrome/120")
	if status, _, _ := a.do(http.MethodPost, env.URL+"/admin/login", url.Values{"name": {"ops"}, "password": {"a long enough password"}}); status != 200 {
		t.Fatalf("login: %d", status)
	}
	form := url.Values{"title": {"线下沙龙"}, "consent_text": {"同意"}, "privacy_url": {"https://ma.example.com/p"},
		"after_submit":  {"message"},
		"fields.0.kind": {"name"}, "fields.0.label": {"姓名"}, "fields.0.required": {"1"},
		"fields.1.kind": {"single"}, "fields.1.label": {"场次"}, "fields.1.options": {"上午\n下午"},
		"fields.2.kind": {"text"}, "fields.2.label": {""}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("fields.1.options", "只有一个")
	status, page, _ := a.do(http.MethodPost, env.URL+"/admin/forms", bad)
	if status != http.StatusUnprocessableEntity || !strings.Contains(page, "请填写 2 到 20 个选项") {
		t.Fatalf("bad options: %d", status)
	}
	status, page, resp := a.do(http.MethodPost, env.URL+"/admin/forms", form)
	if status != 200 || !strings.HasSuffix(resp.Request.URL.Path, "/edit") || !strings.Contains(page, `data-testid="form-link"`) {
		t.Fatalf("create: %d %s", status, resp.Request.URL)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Request.URL.Path, "/admin/forms/"), "/edit")
	status, preview := a.get(env.URL + "/admin/forms/" + id + "/preview")
	if status != 200 || !strings.Contains(preview, "preview-note") || !strings.Contains(preview, "下午") {
		t.Fatalf("preview: %d", status)
	}
	var slug string
	if err := env.DB.Get(&slug, `SELECT slug FROM forms WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if status, _ := newBrowser(t, "x").get(env.URL + "/f/" + slug); status != http.StatusNotFound {
		t.Fatalf("unpublished form served: %d", status)
	}
	form.Set("published", "1")
	if status, _, _ := a.do(http.MethodPost, env.URL+"/admin/forms/"+id, form); status != 200 {
		t.Fatalf("publish: %d", status)
	}
	if status, _ := newBrowser(t, "x").get(env.URL + "/f/" + slug); status != 200 {
		t.Fatalf("published form: %d", status)
	}
	if n := env.count(t, `SELECT count(*) FROM audit_log WHERE action IN ('form_created', 'form_updated')`); n != 2 {
		t.Fatalf("%d form changes audited", n)
	}
}
