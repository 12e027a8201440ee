package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/views/admin"
)

// MemberTags binds member levels to WeCom corp tags and shows the sync's
// state (services.MemberTagService).
type MemberTags interface {
	TagOptions(ctx context.Context) ([]services.TagOption, error)
	BindLevelTag(ctx context.Context, v services.Operator, levelID int64, tagID string) error
	CreateLevelTags(ctx context.Context, v services.Operator) (int, error)
	SyncStatus(ctx context.Context) (services.TagSyncStatus, error)
	RetryTagSync(ctx context.Context, v services.Operator, jobID int64) error
}

// registerMemberTags adds the level tag actions to the members page.
func (h *consoleHandler) registerMemberTags(g *gin.RouterGroup) {
	if h.MemberTags == nil {
		return
	}
	g.POST("/members/levels/:id/tag", h.bindLevelTag)
	g.POST("/members/level-tags", h.createLevelTags)
	g.POST("/members/tag-sync/:id/retry", h.retryTagSync)
}

// levelTagsVM is the members page's tag card; nil when the sync is not
// wired. levels come from the page's own query.
func (h *consoleHandler) levelTagsVM(c *gin.Context, levels []services.Level) (*admin.LevelTagsVM, error) {
	if h.MemberTags == nil {
		return nil, nil
	}
	ctx := c.Request.Context()
	opts, err := h.MemberTags.TagOptions(ctx)
	if err != nil {
		return nil, err
	}
	st, err := h.MemberTags.SyncStatus(ctx)
	if err != nil {
		return nil, err
	}
	vm := &admin.LevelTagsVM{IsAdmin: operator(c).IsAdmin(), Pending: st.Pending, Retrying: st.Retrying}
	names := map[string]string{}
	for _, o := range opts {
		label := o.Name
		if o.Group != "" {
			label = o.Group + " / " + o.Name
		}
		names[o.ID] = label
		vm.Options = append(vm.Options, admin.Option{Value: o.ID, Label: label})
	}
	for _, l := range levels {
		vm.Levels = append(vm.Levels, admin.LevelTagVM{ID: l.ID, Name: l.Name, TagID: l.CorpTagID,
			TagName: tagLabel(names, l.CorpTagID)})
	}
	for _, f := range st.Failed {
		vm.Failed = append(vm.Failed, admin.TagSyncFailureVM{ID: f.ID, UserID: f.UserID, Attempts: f.Attempts,
			Error: f.LastError, At: f.At.Format("2006-01-02 15:04")})
	}
	return vm, nil
}

// tagLabel names a bound tag; one missing from the library (deleted in
// WeCom, or not synced yet) is shown as such rather than hidden.
func tagLabel(names map[string]string, id string) string {
	if id == "" {
		return ""
	}
	if n, ok := names[id]; ok {
		return n
	}
	return "未同步的标签 " + id
}

func (h *consoleHandler) bindLevelTag(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	err := h.MemberTags.BindLevelTag(c.Request.Context(), operator(c), id, c.PostForm("tag_id"))
	h.membersDone(c, err, "等级标签已保存，会员的企业微信标签将随之更新")
}

func (h *consoleHandler) createLevelTags(c *gin.Context) {
	n, err := h.MemberTags.CreateLevelTags(c.Request.Context(), operator(c))
	h.membersDone(c, wecomRefusal(err), fmt.Sprintf("已在企业微信创建标签组「%s」，%d 个等级已绑定标签", services.LevelTagGroupName, n))
}

// wecomRefusal shows WeCom's refusal (or "not connected") on the page, as
// an expected outcome the admin can act on, instead of the error page.
func wecomRefusal(err error) error {
	var ae *wecom.APIError
	switch {
	case errors.As(err, &ae):
		return services.Invalid("企业微信拒绝了请求", map[string]string{"tag": fmt.Sprintf("企业微信错误码 %d：%s", ae.Code, ae.Msg)})
	case services.ErrorCode(err) == services.EUNAVAILABLE:
		return services.Invalid(services.ErrorMessage(err), map[string]string{"tag": services.ErrorMessage(err)})
	}
	return err
}

func (h *consoleHandler) retryTagSync(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	err := h.MemberTags.RetryTagSync(c.Request.Context(), operator(c), id)
	h.membersDone(c, err, "同步任务 #"+strconv.FormatInt(id, 10)+" 已重新排队")
}
