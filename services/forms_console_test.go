package services

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

const formsCorp = "wwforms"

// formsAdmin is a local admin: every submission, full phones.
var formsAdmin = Operator{Kind: "local", ID: "1", Role: RoleAdmin}

// scopedManager returns a WeCom manager of department 2, where rep works;
// rep follows one customer with each of phones, so the submissions made
// with them are in the manager's scope.
func (fx formsFixture) scopedManager(t *testing.T, phones ...string) Operator {
	t.Helper()
	fx.db.MustExec(`INSERT INTO wecom_employees (corp_id, userid, name, departments) VALUES
($1, 'mgr', '王经理', '{2}'), ($1, 'rep', '李销售', '{2}'), ($1, 'other', '赵运营', '{3}') ON CONFLICT DO NOTHING`, formsCorp)
	for _, p := range phones {
		fx.follow(t, "rep", "wm"+p, IdentityInput{Kind: KindPhone, Key: p})
	}
	return Operator{Kind: "wecom", ID: "mgr", CorpID: formsCorp, Role: RoleManager, DepartmentIDs: []int64{2}}
}

// follow links the external contact ext (with more identities) and makes
// employee its follower.
func (fx formsFixture) follow(t *testing.T, employee, ext string, more ...IdentityInput) {
	t.Helper()
	ids := append([]IdentityInput{{Kind: KindExternalUserID, Scope: formsCorp, Key: ext}}, more...)
	_, err := fx.ids.Link(context.Background(), Observation{Source: "test", Ref: "follow:" + ext, Identities: ids})
	must(t, err)
	fx.db.MustExec(`INSERT INTO wecom_follows (corp_id, userid, external_userid) VALUES ($1, $2, $3)`, formsCorp, employee, ext)
}

func (fx formsFixture) submit(t *testing.T, f Form, phone string) {
	t.Helper()
	_, err := fx.subs.Submit(context.Background(), f.Slug, SubmissionInput{Answers: answers("x"), Phone: phone,
		Consent: true, Token: "scope-token-" + phone})
	must(t, err)
}

// TestSubmissionsFollowTheOperatorsScope: the manager of department 2 lists,
// counts and exports only the submissions of customers followed in it (one
// of them made before its user was merged into a followed one); the admin
// sees all of them; staff see none.
func TestSubmissionsFollowTheOperatorsScope(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	f := fx.create(t, sampleForm())
	mgr := fx.scopedManager(t, "13912340001")
	fx.follow(t, "other", "wmOther", IdentityInput{Kind: KindPhone, Key: "13912340002"})
	fx.follow(t, "rep", "wmLater")
	fx.submit(t, f, "13912340001")
	fx.submit(t, f, "13912340002")
	fx.submit(t, f, "13912340003") // a new user, merged below into wmLater's
	_, err := fx.ids.Link(ctx, Observation{Source: "test", Ref: "merge", Identities: []IdentityInput{
		{Kind: KindExternalUserID, Scope: formsCorp, Key: "wmLater"}, {Kind: KindPhone, Key: "13912340003"}}})
	must(t, err)

	phones := func(v Operator) string {
		rows, err := fx.subs.ListSubmissions(ctx, v, SubmissionFilter{FormID: f.ID})
		must(t, err)
		var out []string
		for _, r := range rows {
			out = append(out, r.Phone)
		}
		return strings.Join(out, " ")
	}
	if got := phones(mgr); got != "139****0003 139****0001" {
		t.Errorf("manager sees %q", got)
	}
	if got := phones(formsAdmin); got != "+8613912340003 +8613912340002 +8613912340001" {
		t.Errorf("admin sees %q", got)
	}
	if n := formCount(t, fx, mgr, f.ID); n != 2 {
		t.Errorf("manager's count %d, want 2", n)
	}
	if n := formCount(t, fx, formsAdmin, f.ID); n != 3 {
		t.Errorf("admin's count %d, want 3", n)
	}
	var buf bytes.Buffer
	n, err := fx.subs.ExportSubmissions(ctx, &buf, f, SubmissionFilter{}, mgr)
	if err != nil || n != 2 || strings.Contains(buf.String(), "0002") {
		t.Errorf("manager's export: %d %v\n%s", n, err, buf.String())
	}
	staff := Operator{Kind: "wecom", ID: "rep", CorpID: formsCorp, Role: RoleStaff}
	if _, err := fx.subs.ListSubmissions(ctx, staff, SubmissionFilter{FormID: f.ID}); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("staff list: %v", err)
	}
	if _, err := fx.subs.ExportSubmissions(ctx, &buf, f, SubmissionFilter{}, staff); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("staff export: %v", err)
	}
	if _, err := fx.forms.ListForms(ctx, staff); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("staff forms: %v", err)
	}
}

func formCount(t *testing.T, fx formsFixture, v Operator, id int64) int {
	t.Helper()
	list, err := fx.forms.ListForms(context.Background(), v)
	must(t, err)
	for _, s := range list {
		if s.ID == id {
			return s.Submissions
		}
	}
	t.Fatalf("form %d not listed", id)
	return 0
}

// TestFormDefinitionsAreAdminOnly: managers and staff may not create or
// edit a form (publishing is part of it) nor change the redirect hosts.
func TestFormDefinitionsAreAdminOnly(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	f := fx.create(t, sampleForm())
	for _, v := range []Operator{fx.scopedManager(t), {Kind: "wecom", ID: "rep", CorpID: formsCorp, Role: RoleStaff}} {
		if _, err := fx.forms.CreateFormBy(ctx, v, sampleForm()); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%s create: %v", v.Role, err)
		}
		in := sampleForm()
		in.Published = false
		if _, err := fx.forms.UpdateFormBy(ctx, v, f.ID, in); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%s unpublish: %v", v.Role, err)
		}
		if err := fx.forms.SetRedirectHostsBy(ctx, v, []string{"evil.example.net"}); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("%s hosts: %v", v.Role, err)
		}
	}
	if hosts, err := fx.forms.RedirectHosts(ctx); err != nil || len(hosts) != 0 {
		t.Fatalf("hosts changed: %v %v", hosts, err)
	}
	if got, err := fx.forms.FindFormByID(ctx, f.ID); err != nil || !got.Published {
		t.Fatalf("form changed: %v", err)
	}
	g, err := fx.forms.CreateFormBy(ctx, formsAdmin, sampleForm())
	must(t, err)
	_, err = fx.forms.UpdateFormBy(ctx, formsAdmin, g.ID, sampleForm())
	must(t, err)
	must(t, fx.forms.SetRedirectHostsBy(ctx, formsAdmin, []string{"www.example.com"}))
	if n := fx.count(t, `SELECT count(*) FROM forms WHERE id = $1 AND created_by = 'local:1'`, g.ID); n != 1 {
		t.Errorf("created_by not the admin: %d", n)
	}
}
