package main

import (
	"context"

	"github.com/marketing-assistant/assistant/handlers"
	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/pii"
)

// sidebarDeps builds the WeCom chat sidebar. The corp and agent ids come
// from the saved settings through the provider (re-read at most once a
// second); in demo mode the page loads the sandbox's ww shim, which
// wecomRuntime serves under /sandbox/.
func sidebarDeps(cfg Config, db *database, secrets Secrets, shared sharedServices, forms *services.FormService,
	tasks *services.TaskService, wc *wecomRuntime) handlers.SidebarDeps {
	svc := services.NewSidebarService(db.DB, secrets.PII, shared.ids, shared.audit)
	attr := services.NewAttributor(pii.DeriveKey(secrets.Master, "attribution"))
	d := handlers.SidebarDeps{Service: svc, WeChat: wc.provider, BaseURL: cfg.BaseURL,
		Materials: services.NewSidebarMaterials(svc, forms, attr, cfg.BaseURL).UseTasks(tasks),
		App: func(ctx context.Context) (handlers.WeComApp, error) {
			c, err := wc.provider.Current(ctx)
			if err != nil {
				return handlers.WeComApp{}, err
			}
			if !c.Settings.WeComConfigured() {
				return handlers.WeComApp{}, services.Errorf(services.EUNAVAILABLE, "尚未连接企业微信：请管理员在设置页填写企业 ID、应用 AgentId 与 Secret")
			}
			return handlers.WeComApp{CorpID: c.Settings.CorpID, AgentID: c.Settings.AgentID}, nil
		}}
	if wc.demo != nil {
		d.ShimURL = "/sandbox/ww-shim.js"
	}
	return d
}
