package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

const auditPageSize = 50

// auditActions are suggested in the action filter: the actions the issue
// names (sign-ins, settings, reveals, exports, merges and splits, API keys).
var auditActions = []string{"sign_in", "sign_in_failed", "admin_created", "admin_password_reset",
	"settings_changed", "phone_revealed", "users_exported", "submissions_exported", "users_merged", "user_split",
	"api_key_created", "api_key_revoked", "api_key_used", "api_key_refused"}

// auditLog shows the append-only audit log, filtered, newest first, with
// keyset paging. Admins only: it names who looked at whose data.
func (h *consoleHandler) auditLog(c *gin.Context) {
	if currentAdmin(c).Role != services.RoleAdmin {
		web.Fail(c, services.Errorf(services.EFORBIDDEN, "只有管理员可以查看审计日志"))
		return
	}
	f := services.AuditFilter{Action: strings.TrimSpace(c.Query("action")), ActorKind: c.Query("actor_kind"),
		ActorID: strings.TrimSpace(c.Query("actor")), Limit: auditPageSize}
	f.BeforeID, _ = strconv.ParseInt(c.Query("before"), 10, 64)
	entries, err := h.audit.List(c.Request.Context(), f)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.AuditVM{Shell: adminShell(c, "审计日志", "/admin/audit"), Action: f.Action, ActorKind: f.ActorKind, Actor: f.ActorID,
		Actions: auditActions}
	vm.Rows = auditRows(entries)
	if len(entries) == auditPageSize {
		q := url.Values{"action": {f.Action}, "actor_kind": {f.ActorKind}, "actor": {f.ActorID},
			"before": {strconv.FormatInt(entries[len(entries)-1].ID, 10)}}
		vm.NextURL = "/admin/audit?" + q.Encode()
	}
	web.Render(c, http.StatusOK, admin.AuditPage(vm))
}

func auditRows(entries []services.AuditEntry) []admin.AuditRow {
	var rows []admin.AuditRow
	for _, e := range entries {
		target := e.TargetKind
		if e.TargetID != "" {
			target += " " + e.TargetID
		}
		rows = append(rows, admin.AuditRow{At: e.At, Actor: e.ActorKind + ":" + e.ActorID, Action: e.Action,
			Target: target, IP: e.IP, Detail: string(e.DetailJSON)})
	}
	return rows
}
