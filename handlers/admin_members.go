package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/views/admin"
	"github.com/marketing-assistant/assistant/web"
)

// MemberLevels is what the console needs of member levels and growth.
type MemberLevels interface {
	Levels(ctx context.Context) ([]services.Level, error)
	SaveLevel(ctx context.Context, v services.Operator, name string, threshold int64) error
	DeleteLevel(ctx context.Context, v services.Operator, id int64) error
	Rules(ctx context.Context) ([]services.GrowthRule, error)
	SetRule(ctx context.Context, v services.Operator, kind services.MomentKind, points int) error
	SettleGrowth(ctx context.Context, v services.Operator) (int, error)
	Members(ctx context.Context, v services.Operator) ([]services.MemberRow, error)
	MemberLevelOf(ctx context.Context, userID int64) (services.MemberStatus, error)
	AdjustGrowth(ctx context.Context, v services.Operator, userID, points int64, reason string) (services.MemberStatus, error)
}

func (h *consoleHandler) registerMembers(g *gin.RouterGroup) {
	if h.Members == nil {
		return
	}
	g.GET("/members", h.listMembers)
	g.POST("/members/levels", h.saveLevel)
	g.POST("/members/levels/:id/delete", h.deleteLevel)
	g.POST("/members/rules", h.setRule)
	g.POST("/members/settle", h.settleGrowth)
	g.POST("/users/:id/growth", h.adjustGrowth)
	h.registerMemberTags(g)
}

func (h *consoleHandler) listMembers(c *gin.Context) {
	var flash *admin.Flash
	if msg := c.Query("done"); msg != "" {
		flash = &admin.Flash{Kind: "success", Text: msg}
	}
	h.renderMembers(c, http.StatusOK, flash)
}

func (h *consoleHandler) renderMembers(c *gin.Context, status int, flash *admin.Flash) {
	ctx, v := c.Request.Context(), operator(c)
	members, err := h.Members.Members(ctx, v)
	if err != nil {
		web.Fail(c, err)
		return
	}
	levels, err := h.Members.Levels(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	rules, err := h.Members.Rules(ctx)
	if err != nil {
		web.Fail(c, err)
		return
	}
	vm := admin.MembersVM{Shell: adminShell(c, "会员等级", "/admin/members"), IsAdmin: v.IsAdmin(), Flash: flash}
	for i, l := range levels {
		rng := fmt.Sprintf("%d+", l.Threshold)
		if i+1 < len(levels) {
			rng = fmt.Sprintf("%d–%d", l.Threshold, levels[i+1].Threshold-1)
		}
		vm.Levels = append(vm.Levels, admin.LevelVM{ID: l.ID, Name: l.Name, Threshold: l.Threshold, Members: l.Members, Range: rng})
	}
	for _, r := range rules {
		vm.Rules = append(vm.Rules, admin.RuleVM{Kind: r.MomentKind, Points: r.Points})
	}
	for _, k := range services.MomentKinds {
		vm.Kinds = append(vm.Kinds, admin.Option{Value: string(k), Label: string(k)})
	}
	for _, m := range members {
		vm.Members = append(vm.Members, admin.MemberRowVM{UserID: m.UserID, Points: m.Points, Level: m.Level})
	}
	if vm.Tags, err = h.levelTagsVM(c, levels); err != nil {
		web.Fail(c, err)
		return
	}
	web.Render(c, status, admin.MembersPage(vm))
}

// membersDone answers a members action: back to the page (PRG), or the
// page with the error for expected failures.
func (h *consoleHandler) membersDone(c *gin.Context, err error, done string) {
	switch code := services.ErrorCode(err); code {
	case "":
		seeOther(c, "/admin/members?done="+done)
	case services.EINVALID, services.ENOTFOUND:
		msg := services.ErrorMessage(err)
		for _, f := range services.ErrorFields(err) {
			msg = f
		}
		h.renderMembers(c, web.Status(code), &admin.Flash{Kind: "error", Text: msg})
	default:
		web.Fail(c, err)
	}
}

func (h *consoleHandler) saveLevel(c *gin.Context) {
	threshold, err := strconv.ParseInt(c.PostForm("threshold"), 10, 64)
	if err != nil {
		threshold = -1
	}
	h.membersDone(c, h.Members.SaveLevel(c.Request.Context(), operator(c), c.PostForm("name"), threshold), "等级已保存")
}

func (h *consoleHandler) deleteLevel(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	h.membersDone(c, h.Members.DeleteLevel(c.Request.Context(), operator(c), id), "等级已删除")
}

func (h *consoleHandler) setRule(c *gin.Context) {
	points, err := strconv.Atoi(c.PostForm("points"))
	if err != nil {
		points = 1 << 30 // out of range: the service refuses it
	}
	err = h.Members.SetRule(c.Request.Context(), operator(c), services.MomentKind(c.PostForm("kind")), points)
	h.membersDone(c, err, "规则已保存")
}

func (h *consoleHandler) settleGrowth(c *gin.Context) {
	n, err := h.Members.SettleGrowth(c.Request.Context(), operator(c))
	h.membersDone(c, err, fmt.Sprintf("已结算，%d 位会员获得成长值", n))
}

// memberVM is the member card of the user page; nil for non-members.
func (h *consoleHandler) memberVM(c *gin.Context, userID int64) *admin.MemberVM {
	st, err := h.Members.MemberLevelOf(c.Request.Context(), userID)
	if err != nil || !st.IsMember {
		return nil
	}
	return &admin.MemberVM{Points: st.Points, Level: st.Level.Name}
}

func (h *consoleHandler) adjustGrowth(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	points, _ := strconv.ParseInt(c.PostForm("points"), 10, 64)
	_, err := h.Members.AdjustGrowth(c.Request.Context(), operator(c), id, points, c.PostForm("reason"))
	switch services.ErrorCode(err) {
	case "":
		seeOther(c, "/admin/users/"+strconv.FormatInt(id, 10)+"?adjusted=1")
	case services.EINVALID:
		h.renderUser(c, id, http.StatusUnprocessableEntity, &admin.Flash{Kind: "error", Text: services.ErrorFields(err)["points"]}, nil)
	default:
		web.Fail(c, err)
	}
}
