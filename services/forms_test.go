package services

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pgtest"
	"github.com/marketing-assistant/assistant/services/pii"
)

type formsFixture struct {
	db    *sqlx.DB
	ids   *IdentityService
	forms *FormService
	subs  *SubmissionService
	attr  *Attributor
	sms   *SandboxSMS
}

func newFormsFixture(t *testing.T) formsFixture {
	t.Helper()
	db := pgtest.NewDB(t)
	box := testBox(t)
	audit := NewAuditService(db)
	ids := NewIdentityService(db, box)
	forms := NewFormService(db, audit, "https://ma.example.com")
	attr := NewAttributor(pii.DeriveKey(bytes.Repeat([]byte{7}, 32), "attribution"))
	sms := &SandboxSMS{}
	subs := NewSubmissionService(SubmissionDeps{DB: db, PII: box, Identities: ids, Forms: forms, Attribution: attr,
		SMS: NewSMSService(db, box, sms, SMSConfig{}), Audit: audit}, SubmissionConfig{})
	return formsFixture{db: db, ids: ids, forms: forms, subs: subs, attr: attr, sms: sms}
}

func sampleForm() FormInput {
	return FormInput{Title: "春季发布会报名", ConsentText: "我同意隐私政策", PrivacyURL: "https://ma.example.com/privacy",
		Published: true, Fields: []Field{{Kind: FieldName, Label: "姓名", Required: true},
			{Kind: FieldCompany, Label: "公司"},
			{Kind: FieldSingle, Label: "参会方式", Options: []string{"线上", "线下"}, Required: true},
			{Kind: FieldMulti, Label: "关注", Options: []string{"A", "B", "C"}}}}
}

func (fx formsFixture) create(t *testing.T, in FormInput) Form {
	t.Helper()
	f, err := fx.forms.CreateForm(context.Background(), in, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func answers(name string) map[string][]string {
	return map[string][]string{"name": {name}, "c1": {"线下"}, "c2": {"A", "C"}}
}

func (fx formsFixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := fx.db.Get(&n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFormDefinitionRules(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	bad := sampleForm()
	bad.Fields = append(bad.Fields, Field{Kind: FieldName, Label: "又一个姓名"}, Field{Kind: FieldSingle, Label: "一个选项", Options: []string{"x"}})
	bad.AfterSubmit, bad.AfterURL = AfterURL, "https://evil.example.net/x"
	_, err := fx.forms.CreateForm(ctx, bad, "local", "1")
	fields := ErrorFields(err)
	if fields["fields.4.kind"] == "" || fields["fields.5.options"] == "" {
		t.Fatalf("bad fields accepted: %v", err)
	}
	in := sampleForm()
	in.AfterSubmit, in.AfterURL = AfterURL, "https://evil.example.net/x"
	if _, err := fx.forms.CreateForm(ctx, in, "local", "1"); ErrorFields(err)["after_url"] == "" {
		t.Fatalf("redirect to a host not on the list: %v", err)
	}
	if err := fx.forms.SetRedirectHosts(ctx, []string{"Evil.example.net"}, "local", "1"); err != nil {
		t.Fatal(err)
	}
	f, err := fx.forms.CreateForm(ctx, in, "local", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Slug) != 16 || f.Fields[2].Key != "c1" || f.Fields[3].Key != "c2" || f.ConsentVersion != 1 {
		t.Fatalf("created %+v", f)
	}
	in.ConsentText = "新的同意文本"
	f, err = fx.forms.UpdateForm(ctx, f.ID, in, "local", "1")
	if err != nil || f.ConsentVersion != 2 {
		t.Fatalf("consent version after change: %d %v", f.ConsentVersion, err)
	}
	if n := fx.count(t, `SELECT count(*) FROM form_consents WHERE form_id = $1`, f.ID); n != 2 {
		t.Fatalf("%d consent texts kept", n)
	}
	in.Published = false
	if _, err := fx.forms.UpdateForm(ctx, f.ID, in, "local", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.forms.FindPublishedForm(ctx, f.Slug); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("unpublished form served: %v", err)
	}
}

func TestSubmitLinksAndIsIdempotent(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	f := fx.create(t, sampleForm())
	token := fx.attr.Sign(Attribution{Channel: "sidebar", EmployeeUserID: "zhangsan", MaterialID: f.Slug,
		ExternalUserID: "wmEXT0001", CorpID: "wwcorp"}, time.Hour)
	in := SubmissionInput{Answers: answers("<script>alert(1)</script>"), Phone: "１３９ １２３４ ５６７８", Consent: true,
		Token: "tok-0000000001", Attribution: token, UTM: map[string]string{"utm_source": "wx", "evil": "x"},
		OAAppID: "wxoa", OAOpenID: "oOPEN0001", UnionID: "oUNION0001", IP: "10.0.0.1"}
	var wg sync.WaitGroup
	results := make([]Submission, 3)
	errs := make([]error, 3)
	for i := range results { // a double (triple) click
		wg.Add(1)
		go func() { defer wg.Done(); results[i], errs[i] = fx.subs.Submit(ctx, f.Slug, in) }()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i].PublicID != results[0].PublicID {
			t.Fatalf("submit %d: %+v %v", i, results[i], errs[i])
		}
	}
	if n := fx.count(t, `SELECT count(*) FROM form_submissions`); n != 1 {
		t.Fatalf("%d rows for one token", n)
	}
	u, err := fx.ids.FindUserByPhone(ctx, "13912345678")
	if err != nil {
		t.Fatal(err)
	}
	kinds := fx.count(t, `SELECT count(DISTINCT kind) FROM identities WHERE user_id = $1
AND kind IN ('oa_openid', 'unionid', 'phone', 'wecom_external_userid')`, u.ID)
	moments := fx.count(t, `SELECT count(*) FROM moments m JOIN identities i ON i.id = m.identity_id
WHERE i.user_id = $1 AND m.kind = 'form_submitted' AND m.employee_userid = 'zhangsan'`, u.ID)
	if kinds != 4 || moments != 1 {
		t.Fatalf("user %d: %d identity kinds, %d form_submitted moments", u.ID, kinds, moments)
	}
	sub, err := fx.subs.FindSubmission(ctx, f.ID, results[0].PublicID)
	if err != nil {
		t.Fatal(err)
	}
	got, phone, err := fx.subs.OpenAnswers(sub)
	if err != nil || got["name"] != "<script>alert(1)</script>" || phone != "+8613912345678" {
		t.Fatalf("answers %v phone %q %v", got, phone, err)
	}
	if sub.Channel != "sidebar" || string(sub.UTMJSON) != `{"utm_source": "wx"}` || sub.ConsentVersion != 1 {
		t.Fatalf("attribution/utm/consent: %q %s %d", sub.Channel, sub.UTMJSON, sub.ConsentVersion)
	}
	if bytes.Contains(sub.AnswersSealed, []byte("script")) || bytes.Contains(sub.PhoneSealed, []byte("139")) {
		t.Fatal("answers stored in the clear")
	}
}

func TestSubmitRefusesBadInput(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	f := fx.create(t, sampleForm())
	other := fx.create(t, sampleForm())
	good := fx.attr.Sign(Attribution{EmployeeUserID: "lisi", MaterialID: f.Slug}, time.Hour)
	expired := fx.attr.Sign(Attribution{EmployeeUserID: "lisi", MaterialID: f.Slug}, -time.Second)
	foreign := fx.attr.Sign(Attribution{EmployeeUserID: "lisi", MaterialID: other.Slug}, time.Hour)
	tampered := strings.Replace(good, good[:4], "eyJj", 1)
	cases := []struct {
		name, phone, field string
		consent            bool
		answers            map[string][]string
	}{
		{"short phone", "12345", "phone", true, answers("x")},
		{"US phone", "+1 415 555 2671", "phone", true, answers("x")},
		{"landline", "010 6552 9988", "phone", true, answers("x")},
		{"no consent", "13912345678", "consent", false, answers("x")},
		{"missing name", "13912345678", "name", true, map[string][]string{"c1": {"线上"}}},
		{"long name", "13912345678", "name", true, answers(strings.Repeat("名", 201))},
		{"bad choice", "13912345678", "c1", true, map[string][]string{"name": {"x"}, "c1": {"火星"}}},
	}
	for i, c := range cases {
		_, err := fx.subs.Submit(ctx, f.Slug, SubmissionInput{Answers: c.answers, Phone: c.phone, Consent: c.consent,
			Token: fmt.Sprintf("bad-token-%03d", i)})
		if ErrorCode(err) != EINVALID || ErrorFields(err)[c.field] == "" {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	for i, tok := range []string{expired, foreign, tampered, "garbage"} {
		sub, err := fx.subs.Submit(ctx, f.Slug, SubmissionInput{Answers: answers("x"), Phone: "13912345678",
			Consent: true, Token: fmt.Sprintf("attr-token-%03d", i), Attribution: tok})
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		got, _ := fx.subs.FindSubmission(ctx, f.ID, sub.PublicID)
		if got.EmployeeUserID != "" || got.Channel != "" {
			t.Fatalf("untrusted attribution %d stored: %+v", i, got)
		}
	}
	if n := fx.count(t, `SELECT count(*) FROM form_submissions`); n != 4 {
		t.Fatalf("%d rows", n)
	}
	for i := range 10 {
		_, err := fx.subs.Submit(ctx, f.Slug, SubmissionInput{Answers: answers("x"), Phone: "13912345678",
			Consent: true, Token: fmt.Sprintf("rate-token-%03d", i)})
		if err != nil {
			if ErrorCode(err) != ERATELIMIT || i == 0 {
				t.Fatalf("submission %d: %v", i, err)
			}
			return
		}
	}
	t.Fatal("no per-phone rate limit")
}

func TestRiskFlagOnPhoneBurst(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	f := fx.create(t, sampleForm())
	var last Submission
	for i := range 5 {
		var err error
		last, err = fx.subs.Submit(ctx, f.Slug, SubmissionInput{Answers: answers("x"), Phone: fmt.Sprintf("1391234%04d", 1000+i*7),
			Consent: true, Token: fmt.Sprintf("burst-token-%d", i), IP: "10.9.9.9"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(last.Risk) != 1 || last.Risk[0] != "ip_burst" {
		t.Fatalf("risk %v", last.Risk)
	}
	mgr := fx.scopedManager(t, "13912341000", "13912341007", "13912341014", "13912341021", "13912341028")
	rows, err := fx.subs.ListSubmissions(ctx, mgr, SubmissionFilter{FormID: f.ID, Risky: true})
	if err != nil || len(rows) != 2 || !strings.Contains(rows[0].Phone, "****") {
		t.Fatalf("risky rows %d %v", len(rows), err)
	}
}

func TestSMSCodes(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	in := sampleForm()
	in.SMSVerify = true
	f := fx.create(t, in)
	sub := SubmissionInput{Answers: answers("x"), Phone: "13912345678", Consent: true, Token: "sms-token-0001"}
	if _, err := fx.subs.Submit(ctx, f.Slug, sub); ErrorFields(err)["sms_code"] == "" {
		t.Fatalf("no code: %v", err)
	}
	if err := fx.subs.sms.SendCode(ctx, "13912345678", SMSPurpose(f)); err != nil {
		t.Fatal(err)
	}
	if err := fx.subs.sms.SendCode(ctx, "13912345678", SMSPurpose(f)); ErrorCode(err) != ERATELIMIT {
		t.Fatalf("resend within the cool-down: %v", err)
	}
	code := fx.sms.LastCode("+8613912345678")
	sub.SMSCode = "000000"
	if code == sub.SMSCode {
		sub.SMSCode = "111111"
	}
	if _, err := fx.subs.Submit(ctx, f.Slug, sub); ErrorFields(err)["sms_code"] != "验证码不正确" {
		t.Fatalf("wrong code: %v", err)
	}
	sub.SMSCode = code
	s, err := fx.subs.Submit(ctx, f.Slug, sub)
	if err != nil || !s.PhoneVerified {
		t.Fatalf("right code: %+v %v", s, err)
	}
	if again, err := fx.subs.Submit(ctx, f.Slug, sub); err != nil || again.PublicID != s.PublicID {
		t.Fatalf("retried POST after the code was used: %v", err)
	}
	if n := fx.count(t, `SELECT count(*) FROM identities WHERE kind = 'phone' AND verified`); n != 1 {
		t.Fatalf("verified phones: %d", n)
	}
}

func TestExportMasksAndAudits(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	f := fx.create(t, sampleForm())
	if _, err := fx.subs.Submit(ctx, f.Slug, SubmissionInput{Answers: answers("=HYPERLINK(1)"), Phone: "13912345678",
		Consent: true, Token: "export-token-1"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := fx.subs.ExportSubmissions(ctx, &buf, f, SubmissionFilter{}, fx.scopedManager(t, "13912345678"))
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	out := buf.String()
	if !strings.Contains(out, "139****5678") || strings.Contains(out, "13912345678") || !strings.Contains(out, "'=HYPERLINK") {
		t.Fatalf("export: %s", out)
	}
	buf.Reset()
	if _, err := fx.subs.ExportSubmissions(ctx, &buf, f, SubmissionFilter{}, formsAdmin); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "+8613912345678") {
		t.Fatalf("admin export masked: %s", buf.String())
	}
	if n := fx.count(t, `SELECT count(*) FROM audit_log WHERE action = 'submissions_exported'`); n != 2 {
		t.Fatalf("%d exports audited", n)
	}
}

func TestMPSessionToken(t *testing.T) {
	fx := newFormsFixture(t)
	ctx := context.Background()
	tok, _, err := fx.subs.StartMPSession(ctx, "wxmp", "oMP0001", "oUNION0009")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := fx.subs.OpenMPSession(tok)
	if err != nil || sess.OpenID != "oMP0001" {
		t.Fatalf("%+v %v", sess, err)
	}
	if _, err := fx.subs.OpenMPSession(tok[:len(tok)-2] + "AA"); ErrorCode(err) != EUNAUTHORIZED {
		t.Fatalf("tampered token: %v", err)
	}
	tok, sess, err = fx.subs.AddMPPhone(ctx, sess, "13912345678")
	if err != nil || sess.Phone != "+8613912345678" {
		t.Fatal(err)
	}
	if n := fx.count(t, `SELECT count(*) FROM identities WHERE user_id = $1`, sess.UserID); n != 3 {
		t.Fatalf("%d identities", n)
	}
}
