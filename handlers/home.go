package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/views/home"
	"github.com/marketing-assistant/assistant/web"
)

type homeHandler struct {
	version string
	extra   []LandingLink
}

func (h *homeHandler) landing(c *gin.Context) {
	vm := home.LandingVM{Version: h.version, Links: []home.Link{
		{Title: "管理后台", Description: "连接企业微信、公众号与小程序，管理表单、营销用户与推广任务", URL: "/admin", TestID: "link-admin"},
		{Title: "营销助手侧边栏", Description: "在企业微信聊天工具栏中打开：客户画像、营销动态与素材", URL: "/sidebar", TestID: "link-sidebar"},
		{Title: "CRM 接口", Description: "OpenAPI 文档：推送线索、联系人、客户与会员，查询营销用户", URL: "/api/v1/openapi.json", TestID: "link-api"},
	}}
	for _, l := range h.extra {
		vm.Links = append(vm.Links, home.Link{Title: l.Title, Description: l.Description, URL: l.URL})
	}
	web.Render(c, http.StatusOK, home.Landing(vm))
}
