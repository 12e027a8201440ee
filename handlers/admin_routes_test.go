package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// want is the expected status of an /admin route for admins and managers.
// Without a session every route answers 303 to the sign-in page (GET) or
// 401 (POST); plain staff get 403 everywhere.
type want struct{ admin, manager int }

// consoleRoutes is the route × role table: every /admin route, whichever
// function registers it (the test fails on a route missing here). Requests
// carry no form fields: POSTs that need input answer 422/404 after the role
// check, which is what tells "allowed" apart from "refused" without
// changing any data (but the redirect hosts, emptied by the admin).
var consoleRoutes = map[string]want{
	"GET /admin":                             {200, 200},
	"GET /admin/audit":                       {200, 403},
	"GET /admin/users":                       {200, 200},
	"POST /admin/users/export":               {200, 200},
	"GET /admin/users/:id":                   {200, 200},
	"POST /admin/users/:id/reveal":           {404, 403},
	"GET /admin/users/:id/merge":             {422, 422},
	"POST /admin/users/:id/merge":            {404, 404},
	"POST /admin/users/:id/split":            {422, 422},
	"GET /admin/conflicts":                   {200, 200},
	"POST /admin/conflicts/:id/resolve":      {422, 422},
	"GET /admin/employees":                   {200, 403},
	"POST /admin/employees/:userid/role":     {422, 403},
	"GET /admin/tasks":                       {200, 200},
	"GET /admin/tasks/new":                   {200, 403},
	"POST /admin/tasks":                      {422, 403},
	"GET /admin/tasks/:id":                   {200, 200},
	"POST /admin/tasks/:id/publish":          {503, 403}, // WeCom is not connected in this fixture
	"GET /admin/lifecycle":                   {200, 403},
	"POST /admin/lifecycle/archive":          {422, 403},
	"POST /admin/lifecycle/erase":            {422, 403},
	"GET /admin/members":                     {200, 200},
	"POST /admin/members/levels":             {422, 403},
	"POST /admin/members/levels/:id/delete":  {404, 403},
	"POST /admin/members/rules":              {422, 403},
	"POST /admin/members/levels/:id/tag":     {404, 403},
	"POST /admin/members/level-tags":         {422, 403}, // WeCom is not connected: the page says so
	"POST /admin/members/tag-sync/:id/retry": {404, 403},
	"POST /admin/members/settle":             {303, 403},
	"POST /admin/users/:id/growth":           {422, 403},
	"GET /admin/automation":                  {200, 200},
	"GET /admin/automation/new":              {200, 403},
	"POST /admin/automation":                 {422, 403},
	"GET /admin/automation/:id":              {404, 404},
	"GET /admin/automation/:id/edit":         {404, 403},
	"POST /admin/automation/:id":             {422, 403},
	"POST /admin/automation/:id/enable":      {404, 403},
	"POST /admin/automation/:id/delete":      {404, 403},
	"GET /admin/segments":                    {200, 200},
	"GET /admin/segments/new":                {200, 403},
	"POST /admin/segments":                   {422, 403},
	"POST /admin/segments/count":             {200, 403},
	"GET /admin/segments/:id":                {404, 403},
	"GET /admin/segments/:id/count":          {404, 404},
	"POST /admin/segments/:id":               {422, 403},
	"POST /admin/segments/:id/delete":        {404, 403},
	"GET /admin/massmsg":                     {200, 200},
	"GET /admin/massmsg/new":                 {200, 403},
	"POST /admin/massmsg":                    {422, 403},
	"GET /admin/massmsg/:id":                 {404, 404},
	"POST /admin/massmsg/:id/send":           {404, 403},
	"POST /admin/massmsg/:id/refresh":        {404, 403},
	"GET /admin/oaqr":                        {200, 200},
	"POST /admin/oaqr":                       {422, 403},
	"POST /admin/oaqr/:id/retire":            {404, 403},
	"GET /admin/templatemsg":                 {200, 200},
	"POST /admin/templatemsg/sync":           {503, 403}, // the OA is not connected in this fixture
	"GET /admin/templatemsg/new":             {200, 403},
	"POST /admin/templatemsg":                {422, 403},
	"GET /admin/templatemsg/:id":             {404, 404},
	"POST /admin/templatemsg/:id/test":       {404, 403},
	"POST /admin/templatemsg/:id/start":      {404, 403},
	// registerForms: definitions, publishing and the redirect hosts are
	// admin-only; managers read the submissions of their scope
	"GET /admin/forms":                     {200, 200},
	"GET /admin/forms/new":                 {200, 403},
	"POST /admin/forms":                    {422, 403},
	"POST /admin/forms/hosts":              {303, 403}, // no hosts: the list is emptied
	"GET /admin/forms/:id/edit":            {200, 403},
	"POST /admin/forms/:id":                {422, 403},
	"GET /admin/forms/:id/preview":         {200, 200},
	"GET /admin/forms/:id/submissions":     {200, 200},
	"GET /admin/forms/:id/submissions.csv": {200, 200},
	// registerSync: managers look, admins run
	"GET /admin/sync":                 {200, 200},
	"POST /admin/sync/:kind":          {503, 403}, // WeCom is not connected in this fixture
	"GET /admin/sync/jobs/:id":        {404, 404},
	"GET /admin/channels":             {200, 200},
	"POST /admin/channels":            {422, 403},
	"POST /admin/channels/:id/delete": {404, 403},
	// RegisterWeCom: how the app connects is the admins' alone
	"GET /admin/settings":           {200, 403},
	"POST /admin/settings":          {422, 403},
	"POST /admin/settings/generate": {422, 403},
	"POST /admin/settings/test":     {422, 403},
	"GET /admin/inbox":              {200, 403},
	"POST /admin/inbox/:id/retry":   {404, 403},
}

func TestConsoleRoutesByRole(t *testing.T) {
	env := newConsoleEnv(t)
	seen := map[string]bool{}
	for _, r := range env.adminRoutes() {
		key := r.Method + " " + r.Path
		seen[key] = true
		path := env.fill(r.Path)
		t.Run(key, func(t *testing.T) {
			w := env.do(r.Method, path, "", nil)
			if r.Method == http.MethodGet && (w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/admin/login")) {
				t.Errorf("no session: %d %s", w.Code, w.Header().Get("Location"))
			}
			if r.Method == http.MethodPost && w.Code != http.StatusUnauthorized {
				t.Errorf("no session: %d", w.Code)
			}
			if w := env.do(r.Method, path, "staff", nil); w.Code != http.StatusForbidden {
				t.Errorf("staff: %d", w.Code)
			}
			exp, ok := consoleRoutes[key]
			if !ok {
				t.Errorf("route %s is not in the route × role table", key)
				return
			}
			if w := env.do(r.Method, path, "manager", nil); w.Code != exp.manager {
				t.Errorf("manager: %d, want %d", w.Code, exp.manager)
			}
			if w := env.do(r.Method, path, "admin", nil); w.Code != exp.admin {
				t.Errorf("admin: %d, want %d", w.Code, exp.admin)
			}
		})
	}
	for key := range consoleRoutes {
		if !seen[key] {
			t.Errorf("route %s is in the table but not registered", key)
		}
	}
}

// TestConsoleRefusesCrossOriginPosts sends every console action from
// another site with a valid admin session: each is refused before it runs.
func TestConsoleRefusesCrossOriginPosts(t *testing.T) {
	env := newConsoleEnv(t)
	before := env.auditCount("users_exported")
	n := 0
	for _, r := range env.adminRoutes() {
		if r.Method != http.MethodPost {
			continue
		}
		n++
		form := url.Values{"with": {strconv.FormatInt(env.u3, 10)}, "identity": {strconv.FormatInt(env.phoneID, 10)},
			"resolution": {"dismiss"}, "role": {"admin"}}
		w := env.do(http.MethodPost, env.fill(r.Path), "admin", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if w.Code != http.StatusForbidden {
			t.Errorf("%s %s cross-origin: %d", r.Method, r.Path, w.Code)
		}
	}
	if n < 6 {
		t.Fatalf("only %d POST routes", n)
	}
	var open int
	if err := env.db.Get(&open, `SELECT count(*) FROM identity_conflicts WHERE status = 'open'`); err != nil || open != 1 {
		t.Fatalf("conflict changed: %d %v", open, err)
	}
	if env.auditCount("users_exported") != before || env.auditCount("phone_revealed") != 0 {
		t.Fatal("a cross-origin POST was audited, so it ran")
	}
}
