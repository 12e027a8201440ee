package services

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SubmissionFilter selects a form's submissions, newest first.
type SubmissionFilter struct {
	FormID   int64
	Phone    string // exact number (any format); matched by blind index
	Channel  string
	Employee string
	From, To time.Time // zero: unbounded; To is exclusive
	Risky    bool      // only rows with a risk flag
	BeforeID int64     // keyset paging: rows with a smaller id
	Limit    int       // 1..500, default 50
}

// SubmissionRow is a submission opened for an admin: the phone is masked
// unless the admin may see phones.
type SubmissionRow struct {
	Submission
	Phone   string
	Answers map[string]any
}

// MaySeePhones reports whether an admin role sees full phone numbers (in
// lists and exports); everyone else sees them masked.
func MaySeePhones(role string) bool { return role == RoleAdmin }

// ListSubmissions returns a page of the submissions the operator may see
// (those of the marketing users in their scope, console_access.go) with
// their answers opened and phones masked unless the role may see them.
// Errors: EFORBIDDEN (staff), EINVALID (phone filter).
func (s *SubmissionService) ListSubmissions(ctx context.Context, v Operator, f SubmissionFilter) ([]SubmissionRow, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return nil, err
	}
	sc, err := scopeOf(ctx, s.db, v)
	if err != nil {
		return nil, err
	}
	return s.listSubmissions(ctx, sc, f, MaySeePhones(v.Role))
}

// listSubmissions is ListSubmissions within a scope worked out already.
func (s *SubmissionService) listSubmissions(ctx context.Context, sc scope, f SubmissionFilter, unmask bool) ([]SubmissionRow, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	key := ""
	if strings.TrimSpace(f.Phone) != "" {
		k, err := s.ids.PhoneKey(f.Phone)
		if err != nil {
			return nil, err
		}
		key = k
	}
	all, emps := sc.args()
	var subs []Submission
	err := s.db.SelectContext(ctx, &subs, `SELECT `+submissionColumns+` FROM form_submissions fs
WHERE form_id = $1 AND ($2 = '' OR phone_key = $2) AND ($3 = '' OR channel = $3) AND ($4 = '' OR employee_userid = $4)
  AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)
  AND (NOT $7 OR risk <> '{}') AND ($8 = 0 OR id < $8) AND `+submissionVisible(10)+`
ORDER BY id DESC LIMIT $9`, f.FormID, key, f.Channel, f.Employee, nullTime(f.From), nullTime(f.To), f.Risky,
		f.BeforeID, f.Limit, all, emps)
	if err != nil {
		return nil, fmt.Errorf("submissions: list: %w", err)
	}
	rows := make([]SubmissionRow, 0, len(subs))
	for _, sub := range subs {
		answers, phone, err := s.OpenAnswers(sub)
		if err != nil {
			return nil, err
		}
		if !unmask {
			phone = MaskPhone(phone)
		}
		rows = append(rows, SubmissionRow{Submission: sub, Phone: phone, Answers: answers})
	}
	return rows, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// exportLimit bounds one export.
const exportLimit = 50000

// ExportSubmissions writes the form's submissions matching f that the
// operator may see as CSV (UTF-8 with BOM, for Excel), phones masked unless
// the role may see them, and audits the export. Errors: EFORBIDDEN (staff),
// EINVALID (phone filter).
func (s *SubmissionService) ExportSubmissions(ctx context.Context, w io.Writer, form Form, f SubmissionFilter, v Operator) (int, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return 0, err
	}
	sc, err := scopeOf(ctx, s.db, v)
	if err != nil {
		return 0, err
	}
	unmask := MaySeePhones(v.Role)
	if err := s.audit.Record(ctx, v.audit("submissions_exported", "form", strconv.FormatInt(form.ID, 10),
		map[string]any{"phones": map[bool]string{true: "full", false: "masked"}[unmask],
			"channel": f.Channel, "employee": f.Employee, "risky": f.Risky})); err != nil {
		return 0, err
	}
	return s.writeCSV(ctx, w, form, f, sc, unmask)
}

// writeCSV writes the header and the rows of an export, a page at a time.
func (s *SubmissionService) writeCSV(ctx context.Context, w io.Writer, form Form, f SubmissionFilter, sc scope, unmask bool) (int, error) {
	cw := csv.NewWriter(w)
	_, _ = io.WriteString(w, "\ufeff")
	header := []string{"提交时间", "手机号", "手机已验证"}
	for _, fl := range form.Fields {
		header = append(header, fl.Label)
	}
	header = append(header, "渠道", "员工", "客户 external_userid", "UTM", "来源", "同意版本", "风险")
	_ = cw.Write(header)
	f.FormID, f.BeforeID, f.Limit = form.ID, 0, 500
	n := 0
	for n < exportLimit {
		rows, err := s.listSubmissions(ctx, sc, f, unmask)
		if err != nil {
			return n, err
		}
		for _, r := range rows {
			_ = cw.Write(csvRow(form, r))
		}
		n += len(rows)
		if len(rows) < f.Limit {
			break
		}
		f.BeforeID = rows[len(rows)-1].ID
	}
	cw.Flush()
	return n, cw.Error()
}

func csvRow(form Form, r SubmissionRow) []string {
	rec := []string{r.CreatedAt.In(chinaTime).Format("2006-01-02 15:04:05"), r.Phone, strconv.FormatBool(r.PhoneVerified)}
	for _, fl := range form.Fields {
		rec = append(rec, AnswerText(r.Answers[fl.Key]))
	}
	rec = append(rec, r.Channel, r.EmployeeUserID, r.ExternalUserID, utmText(r.UTMJSON), r.Source,
		strconv.Itoa(r.ConsentVersion), strings.Join(r.Risk, " "))
	for i, v := range rec {
		rec[i] = csvCell(v)
	}
	return rec
}

// AnswerText renders a stored answer (a string or a list of choices).
func AnswerText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, "、")
	default:
		return fmt.Sprint(x)
	}
}

func utmText(raw []byte) string {
	var m map[string]string
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, "&")
}

// csvCell defuses spreadsheet formulas: a cell starting with = + - @ (or a
// tab/CR) is prefixed with a quote, so what people typed stays text.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
