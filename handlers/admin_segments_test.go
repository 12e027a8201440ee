package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An admin saves a segment, the live count answers the filter as typed
// (hostile values are just values), and a mass message to it previews the
// customers per employee; sending without WeCom says so.
func TestSegmentAndMassMessagePages(t *testing.T) {
	env := newConsoleEnv(t)
	count := func(form url.Values) string {
		w := env.do(http.MethodPost, "/admin/segments/count", "admin", form, "HX-Request", "true")
		m := regexp.MustCompile(`data-testid="segment-count">(\d+)<`).FindStringSubmatch(w.Body.String())
		if w.Code != http.StatusOK || m == nil {
			t.Fatalf("count: %d %s", w.Code, w.Body.String())
		}
		return m[1]
	}
	if n := count(url.Values{"has_kind": {"wecom_external_userid"}}); n != "3" {
		t.Fatalf("customers: %s", n)
	}
	if n := count(url.Values{"has_kind": {"phone"}}); n != "1" {
		t.Fatalf("with phone: %s", n)
	}
	if n := count(url.Values{"tag": {`x'); DELETE FROM segments; --`}, "channel_other": {`' OR 1=1 --`}}); n != "0" {
		t.Fatalf("hostile: %s", n)
	}
	w := env.do(http.MethodPost, "/admin/segments/count", "admin", url.Values{"active_days": {"abc"}})
	if !strings.Contains(w.Body.String(), "天数为 0–3650") {
		t.Fatalf("bad days: %s", w.Body.String())
	}
	if w := env.do(http.MethodPost, "/admin/segments", "admin", url.Values{"name": {""}}); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("empty name: %d", w.Code)
	}
	w = env.do(http.MethodPost, "/admin/segments", "admin", url.Values{"name": {"企微客户"}, "has_kind": {"wecom_external_userid"}})
	if w.Code != http.StatusSeeOther || env.auditCount("segment_created") != 1 {
		t.Fatalf("create: %d", w.Code)
	}
	var seg string
	env.db.Get(&seg, `SELECT id::text FROM segments`)
	list := env.do(http.MethodGet, "/admin/segments", "manager", nil).Body.String()
	if !strings.Contains(list, "企微客户") || !strings.Contains(list, `hx-get="/admin/segments/`+seg+`/count"`) {
		t.Fatalf("list: %s", list)
	}
	if n := env.do(http.MethodGet, "/admin/segments/"+seg+"/count", "manager", nil).Body.String(); strings.TrimSpace(n) != "3" {
		t.Fatalf("row count: %q", n)
	}
	w = env.do(http.MethodPost, "/admin/massmsg", "admin", url.Values{"title": {"春季"}, "segment": {seg}, "text": {"你好"}, "attach": {"none"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("mass create: %d %s", w.Code, w.Body.String())
	}
	page := env.do(http.MethodGet, w.Header().Get("Location"), "manager", nil).Body.String()
	for _, want := range []string{`data-testid="mass-customers">3<`, `data-testid="mass-excluded">0<`, "李销售", "赵运营"} {
		if !strings.Contains(page, want) {
			t.Fatalf("preview lacks %s", want)
		}
	}
	// the segment is a promotion-task target too
	if !strings.Contains(env.do(http.MethodGet, "/admin/tasks/new", "admin", nil).Body.String(), `data-testid="task-segment"`) {
		t.Fatal("task form does not offer segments")
	}
	tw := env.do(http.MethodPost, "/admin/tasks", "admin", url.Values{"title": {"人群任务"}, "form": {strconv.FormatInt(env.form, 10)},
		"deadline": {time.Now().Add(48 * time.Hour).Format("2006-01-02T15:04")}, "target": {"segment"}, "segment": {seg}})
	if tw.Code != http.StatusSeeOther {
		t.Fatalf("segment task: %d %s", tw.Code, tw.Body.String())
	}
	w = env.do(http.MethodPost, w.Header().Get("Location")+"/send", "admin", nil)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "企业微信未连接") {
		t.Fatalf("send without WeCom: %d", w.Code)
	}
}
