package handlers

import (
	"bytes"
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

const dateLayout = "2006-01-02"

// userFilter reads the search form (query or POST form alike) into a
// filter and the values to show back.
func userFilter(get func(string) string) (services.UserFilter, admin.UserFilterVM, error) {
	vm := admin.UserFilterVM{Phone: get("phone"), Name: get("name"), Tag: get("tag"), Channel: get("channel"),
		Kind: get("kind"), From: get("from"), To: get("to"), Archived: get("archived") == "1"}
	f := services.UserFilter{Phone: vm.Phone, Name: vm.Name, Tag: strings.TrimSpace(vm.Tag),
		Channel: strings.TrimSpace(vm.Channel), Kind: services.IdentityKind(vm.Kind), WithArchived: vm.Archived}
	var err error
	if vm.From != "" {
		if f.ActiveFrom, err = time.ParseInLocation(dateLayout, vm.From, time.Local); err != nil {
			return f, vm, services.Invalid("日期格式不正确", map[string]string{"from": "日期格式不正确"})
		}
	}
	if vm.To != "" {
		to, err := time.ParseInLocation(dateLayout, vm.To, time.Local)
		if err != nil {
			return f, vm, services.Invalid("日期格式不正确", map[string]string{"to": "日期格式不正确"})
		}
		f.ActiveTo = to.AddDate(0, 0, 1) // the whole "to" day
		if f.ActiveFrom.IsZero() {
			f.ActiveFrom = time.Unix(0, 0)
		}
	}
	if after := get("after"); after != "" {
		f.After, _ = strconv.ParseInt(after, 10, 64)
	}
	return f, vm, nil
}

func kindOptions(selected string) []admin.Option {
	var out []admin.Option
	for _, k := range services.IdentityKinds {
		out = append(out, admin.Option{Value: string(k), Label: string(k), Selected: string(k) == selected})
	}
	return out
}

func (h *consoleHandler) listUsers(c *gin.Context) {
	f, fvm, err := userFilter(c.Query)
	vm := admin.UsersVM{Shell: adminShell(c, "营销用户", "/admin/users"), Filter: fvm, Kinds: kindOptions(fvm.Kind)}
	if err == nil {
		var page services.UserPage
		page, err = h.Users.FindUsers(c.Request.Context(), operator(c), f)
		for _, u := range page.Users {
			vm.Rows = append(vm.Rows, userRow(u))
		}
		if page.Next != 0 {
			q := c.Request.URL.Query()
			q.Set("after", strconv.FormatInt(page.Next, 10))
			vm.NextURL = "/admin/users?" + q.Encode()
		}
	}
	if code := services.ErrorCode(err); code == services.EINVALID {
		vm.Flash = &admin.Flash{Kind: "error", Text: services.ErrorMessage(err)}
		web.Render(c, http.StatusUnprocessableEntity, admin.UsersPage(vm))
		return
	} else if err != nil {
		web.Fail(c, err)
		return
	}
	web.Render(c, http.StatusOK, admin.UsersPage(vm))
}

func userRow(u services.UserRow) admin.UserRowVM {
	r := admin.UserRowVM{ID: u.ID, URL: "/admin/users/" + strconv.FormatInt(u.ID, 10), Name: u.Name, Phone: u.Phone,
		Identities: u.NIdentities, Kinds: u.Kinds, Created: u.CreatedAt.Local().Format(dateLayout), Archived: u.ArchivedAt != nil}
	if u.LastActive != nil {
		r.LastActive = u.LastActive.Local().Format("2006-01-02 15:04")
	}
	return r
}

// exportUsers answers a CSV of the filtered list; the service audits it.
func (h *consoleHandler) exportUsers(c *gin.Context) {
	f, _, err := userFilter(c.PostForm)
	if err != nil {
		web.Fail(c, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString("\uFEFF") // a BOM, so spreadsheet programs read the UTF-8 names
	if _, err := h.Users.ExportUsers(c.Request.Context(), operator(c), f, &buf); err != nil {
		web.Fail(c, err)
		return
	}
	name := "marketing-users-" + time.Now().Format("20060102-150405") + ".csv"
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (h *consoleHandler) showUser(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	h.renderUser(c, id, http.StatusOK, userFlash(c), nil)
}

// userFlash confirms the action that redirected here.
func userFlash(c *gin.Context) *admin.Flash {
	switch {
	case c.Query("merged") != "":
		return &admin.Flash{Kind: "success", Text: "已合并营销用户 #" + c.Query("merged")}
	case c.Query("split") != "":
		return &admin.Flash{Kind: "success", Text: "已从营销用户 #" + c.Query("split") + " 拆分出此用户"}
	case c.Query("adjusted") != "":
		return &admin.Flash{Kind: "success", Text: "成长值已调整"}
	}
	return nil
}

// renderUser renders the detail page; revealed maps a phone identity to its
// full number (only in the answer to a reveal, never in a URL).
func (h *consoleHandler) renderUser(c *gin.Context, id int64, status int, flash *admin.Flash, revealed map[int64]string) {
	d, err := h.Users.FindUser(c.Request.Context(), operator(c), id, c.Query("cursor"))
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.UserVM{Shell: adminShell(c, "营销用户 #"+strconv.FormatInt(d.User.ID, 10), "/admin/users"),
		ID: d.User.ID, RequestedID: d.User.RequestedID, Created: d.User.CreatedAt.Local().Format("2006-01-02 15:04"),
		CanReveal: currentAdmin(c).Role == services.RoleAdmin, Flash: flash, MergeWith: c.Query("with")}
	if d.ArchivedAt != nil {
		vm.Archived = d.ArchivedAt.Local().Format(dateLayout)
	}
	for _, i := range d.Identities {
		vm.Identities = append(vm.Identities, identityVM(i, revealed[i.ID]))
	}
	for _, m := range d.Timeline.Moments {
		vm.Timeline = append(vm.Timeline, admin.MomentVM{At: m.OccurredAt.Local().Format("2006-01-02 15:04"),
			Kind: string(m.Kind), Channel: m.Channel, Title: m.Title, Employee: m.EmployeeUserID, IdentityKind: string(m.IdentityKind)})
	}
	if d.Timeline.Next != "" {
		vm.MoreURL = "/admin/users/" + strconv.FormatInt(d.User.ID, 10) + "?cursor=" + url.QueryEscape(d.Timeline.Next)
	}
	for _, l := range d.MergeLog {
		vm.MergeLog = append(vm.MergeLog, admin.MergeLogVM{At: l.OccurredAt.Local().Format("2006-01-02 15:04"), Kind: l.Kind,
			Actor: l.Actor, Reason: l.Reason, Source: l.Source, From: l.FromUser, Into: l.IntoUser, Moved: l.Moved, Severed: l.Severed})
	}
	vm.Conflicts = conflictVMs(d.Conflicts)
	if h.Members != nil {
		vm.Member = h.memberVM(c, d.User.ID)
	}
	web.Render(c, status, admin.UserPage(vm))
}

func identityVM(i services.Identity, revealed string) admin.IdentityVM {
	vm := admin.IdentityVM{ID: i.ID, Kind: string(i.Kind), Scope: i.Scope, Key: i.Key, Verified: i.Verified,
		Why: i.Why(), LastSeen: i.LastSeen.Local().Format("2006-01-02 15:04"), Name: i.Attrs.Name}
	if vm.Name == "" {
		vm.Name = i.Attrs.Nickname
	}
	if i.Kind == services.KindPhone {
		vm.IsPhone, vm.Key, vm.Revealed = true, i.Phone, revealed
	}
	return vm
}

func conflictVMs(cs []services.Conflict) []admin.ConflictVM {
	var out []admin.ConflictVM
	for _, c := range cs {
		out = append(out, admin.ConflictVM{ID: c.ID, UserA: c.UserA, UserB: c.UserB, Reason: c.Reason, ViaKind: c.ViaKind,
			Source: c.Source, Status: c.Status, At: c.OccurredAt.Local().Format("2006-01-02 15:04"), ResolvedBy: c.ResolvedBy, Seen: c.Seen})
	}
	return out
}

// revealPhone shows one phone in full in this answer only (never in a URL
// or a redirect); the service allows admins only and audits every reveal.
func (h *consoleHandler) revealPhone(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	identityID, _ := strconv.ParseInt(c.PostForm("identity"), 10, 64)
	phone, err := h.Users.RevealPhone(c.Request.Context(), operator(c), id, identityID)
	if err != nil {
		web.Fail(c, err)
		return
	}
	flash := &admin.Flash{Kind: "warn", Text: "已显示完整手机号，此次查看已记录在审计日志"}
	h.renderUser(c, id, http.StatusOK, flash, map[int64]string{identityID: phone})
}
