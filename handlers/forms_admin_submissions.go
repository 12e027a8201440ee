package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// chinaDay is the zone of the date filters.
var chinaDay = time.FixedZone("CST", 8*3600)

// readSubmissionFilter parses the filter query; bad dates are ignored.
func readSubmissionFilter(c *gin.Context, formID int64) (services.SubmissionFilter, admin.SubmissionFilterVM) {
	vm := admin.SubmissionFilterVM{Phone: c.Query("phone"), Channel: c.Query("channel"), Employee: c.Query("employee"),
		From: c.Query("from"), To: c.Query("to"), Risky: c.Query("risky") == "1"}
	f := services.SubmissionFilter{FormID: formID, Phone: vm.Phone, Channel: strings.TrimSpace(vm.Channel),
		Employee: strings.TrimSpace(vm.Employee), Risky: vm.Risky}
	if t, err := time.ParseInLocation("2006-01-02", vm.From, chinaDay); err == nil {
		f.From = t
	}
	if t, err := time.ParseInLocation("2006-01-02", vm.To, chinaDay); err == nil {
		f.To = t.AddDate(0, 0, 1)
	}
	f.BeforeID, _ = strconv.ParseInt(c.Query("before"), 10, 64)
	return f, vm
}

// adminSubmissions lists the form's submissions the operator may see (the
// service applies their data scope); phones are masked unless the role may
// see them.
func (h *formHandler) adminSubmissions(c *gin.Context) {
	form, ok := h.loadForm(c)
	if !ok {
		return
	}
	filter, fvm := readSubmissionFilter(c, form.ID)
	unmask := services.MaySeePhones(currentAdmin(c).Role)
	base := fmt.Sprintf("/admin/forms/%d/submissions", form.ID)
	vm := admin.SubmissionsVM{Shell: adminShell(c, "提交记录", "/admin/forms"), FormTitle: form.Title, Action: base,
		Filter: fvm, Masked: !unmask, ExportURL: base + ".csv?" + filterQuery(c, "")}
	for _, f := range form.Fields {
		vm.Columns = append(vm.Columns, f.Label)
	}
	rows, err := h.Submissions.ListSubmissions(c.Request.Context(), operator(c), filter)
	if err != nil {
		if services.ErrorCode(err) != services.EINVALID {
			web.Fail(c, err)
			return
		}
		vm.Error = services.ErrorMessage(err)
	}
	for _, r := range rows {
		vm.Rows = append(vm.Rows, submissionRowVM(form, r))
	}
	if len(rows) == 50 {
		vm.NextURL = base + "?" + filterQuery(c, strconv.FormatInt(rows[len(rows)-1].ID, 10))
	}
	web.Render(c, http.StatusOK, admin.SubmissionsPage(vm))
}

func submissionRowVM(form services.Form, r services.SubmissionRow) admin.SubmissionRowVM {
	row := admin.SubmissionRowVM{At: r.CreatedAt.In(chinaDay).Format("2006-01-02 15:04:05"), Phone: r.Phone,
		Verified: r.PhoneVerified, Channel: r.Channel, Employee: r.EmployeeUserID, Source: r.Source,
		Risk: strings.Join(r.Risk, " ")}
	for _, f := range form.Fields {
		row.Answers = append(row.Answers, services.AnswerText(r.Answers[f.Key]))
	}
	return row
}

// filterQuery re-encodes the filter parameters, with a paging cursor.
func filterQuery(c *gin.Context, before string) string {
	q := url.Values{}
	for _, k := range []string{"phone", "channel", "employee", "from", "to", "risky"} {
		if v := c.Query(k); v != "" {
			q.Set(k, v)
		}
	}
	if before != "" {
		q.Set("before", before)
	}
	return q.Encode()
}

// adminExport streams the CSV; the service audits who exported what, and
// masks phones unless the role may see them.
func (h *formHandler) adminExport(c *gin.Context) {
	form, ok := h.loadForm(c)
	if !ok {
		return
	}
	filter, _ := readSubmissionFilter(c, form.ID)
	var buf strings.Builder
	_, err := h.Submissions.ExportSubmissions(c.Request.Context(), &buf, form, filter, operator(c))
	if err != nil {
		web.Fail(c, err)
		return
	}
	name := fmt.Sprintf("form-%d-%s.csv", form.ID, time.Now().In(chinaDay).Format("20060102-1504"))
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/csv; charset=utf-8", []byte(buf.String()))
}
