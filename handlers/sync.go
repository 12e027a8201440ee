package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// SyncJobs runs and reports the WeCom / Official Account syncs.
type SyncJobs interface {
	Start(ctx context.Context, t services.SyncTarget, kind services.SyncKind, v services.Operator) (services.SyncJob, error)
	FindJob(ctx context.Context, id int64) (services.SyncJob, error)
	LatestJobs(ctx context.Context, corp string) (map[services.SyncKind]services.SyncJob, error)
}

// SyncTargets gives the corp and client of the saved settings.
type SyncTargets interface {
	SyncTarget(ctx context.Context) (services.SyncTarget, error)
}

// SyncDeps wire the sync and channel pages; a nil Jobs leaves them out.
type SyncDeps struct {
	Jobs     SyncJobs
	Targets  SyncTargets
	Channels ChannelStore
}

type syncHandler struct {
	jobs     SyncJobs
	targets  SyncTargets
	channels ChannelStore
}

// registerSync installs the sync and channel pages on the admin group.
func registerSync(g *gin.RouterGroup, d SyncDeps) {
	if g == nil || d.Jobs == nil || d.Targets == nil {
		return
	}
	h := &syncHandler{jobs: d.Jobs, targets: d.Targets, channels: d.Channels}
	g.GET("/sync", h.page)
	g.POST("/sync/:kind", h.start)
	g.GET("/sync/jobs/:id", h.card)
	if d.Channels != nil {
		g.GET("/channels", h.channelsPage)
		g.POST("/channels", h.channelCreate)
		g.POST("/channels/:id/delete", h.channelDelete)
	}
}

// requireAdmin refuses changes to managers: they may look, not run.
func requireAdmin(c *gin.Context) bool {
	if currentAdmin(c).Role != services.RoleAdmin {
		web.Fail(c, services.Errorf(services.EFORBIDDEN, "只有管理员可以执行此操作"))
		return false
	}
	return true
}

func (h *syncHandler) page(c *gin.Context) {
	vm := admin.SyncVM{Shell: adminShell(c, "数据同步", "/admin/sync")}
	if k := services.SyncKind(c.Query("running")); k.Valid() {
		vm.Notice = "「" + k.Label() + "」同步已在进行中（可能由另一位管理员或另一台服务器发起），下面是它的进度；结束后可以再次运行。"
	}
	canStart := currentAdmin(c).Role == services.RoleAdmin
	t, err := h.targets.SyncTarget(c.Request.Context())
	jobs := map[services.SyncKind]services.SyncJob{}
	switch {
	case services.ErrorCode(err) == services.EUNAVAILABLE:
		vm.Error, canStart = services.ErrorMessage(err), false
	case err != nil:
		web.Fail(c, err)
		return
	default:
		if jobs, err = h.jobs.LatestJobs(c.Request.Context(), t.CorpID); err != nil {
			web.Fail(c, err)
			return
		}
	}
	for _, k := range services.SyncKinds {
		if k == services.SyncFans && t.OAAppID == "" && err == nil {
			continue
		}
		j, ok := jobs[k]
		if !ok {
			j = services.SyncJob{Kind: k}
		}
		vm.Jobs = append(vm.Jobs, syncJobVM(j, canStart))
	}
	web.Render(c, http.StatusOK, admin.SyncPage(vm))
}

func (h *syncHandler) start(c *gin.Context) {
	if !requireAdmin(c) {
		return
	}
	ctx := c.Request.Context()
	kind := services.SyncKind(c.Param("kind"))
	t, err := h.targets.SyncTarget(ctx)
	if err == nil {
		_, err = h.jobs.Start(ctx, t, kind, operator(c))
	}
	if err != nil && services.ErrorCode(err) != services.ECONFLICT {
		web.Fail(c, err)
		return
	}
	if err != nil { // ECONFLICT: one is running already; the page says so and shows its progress
		c.Redirect(http.StatusSeeOther, "/admin/sync?running="+url.QueryEscape(string(kind)))
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/sync")
}

// card renders one job's card: the fragment the progress bar polls.
func (h *syncHandler) card(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		web.Fail(c, services.Errorf(services.ENOTFOUND, "同步任务不存在"))
		return
	}
	j, err := h.jobs.FindJob(c.Request.Context(), id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	web.Render(c, http.StatusOK, admin.SyncJobCard(syncJobVM(j, currentAdmin(c).Role == services.RoleAdmin)))
}

// staleSync is how long a running job may go without progress before the
// page stops calling it running.
const staleSync = 3 * time.Minute

// syncJobVM shapes a job for its card.
func syncJobVM(j services.SyncJob, canStart bool) admin.SyncJobVM {
	vm := admin.SyncJobVM{Kind: string(j.Kind), Label: j.Kind.Label(), JobID: j.ID, State: j.State, Percent: j.Percent(),
		Received: j.Received, Changed: j.Changed, Retries: j.Retries, Attempts: j.Attempts, Error: j.Error,
		CanStart: canStart && j.State != services.SyncRunning, StartAction: "/admin/sync/" + string(j.Kind)}
	if j.State == services.SyncRunning && time.Since(j.UpdatedAt) > staleSync {
		// its runner died (its lock went with it): the next start resumes it
		vm.State, vm.Error, vm.CanStart = services.SyncFailed, "同步进程已退出", canStart
	}
	if vm.State == services.SyncRunning {
		vm.PollURL = fmt.Sprintf("/admin/sync/jobs/%d", j.ID)
	}
	if j.FinishedAt != nil {
		vm.FinishedAt = j.FinishedAt.Local().Format("2006-01-02 15:04:05")
	}
	if rep, ok := j.Report(); ok {
		vm.Summary = rep.Summary()
		for _, g := range rep.Gaps {
			vm.Gaps = append(vm.Gaps, fmt.Sprintf("%s (%s)：企业微信 %d，本地 %d", g.Name, g.UserID, g.Remote, g.Local))
		}
	}
	return vm
}
