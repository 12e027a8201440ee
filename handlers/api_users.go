package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web"
)

// userJSON is a marketing user as the API shows it.
type userJSON struct {
	ID          int64          `json:"id"`
	RequestedID int64          `json:"requested_id,omitempty"` // the absorbed id asked for
	CreatedAt   time.Time      `json:"created_at"`
	Identities  []identityJSON `json:"identities"`
}

type identityJSON struct {
	ID         int64               `json:"id"`
	Kind       string              `json:"kind"`
	Scope      string              `json:"scope,omitempty"`
	Value      string              `json:"value"` // phones masked unless the key has pii:read
	Verified   bool                `json:"verified,omitempty"`
	Attributes services.Attributes `json:"attributes"`
	FirstSeen  time.Time           `json:"first_seen"`
	LastSeen   time.Time           `json:"last_seen"`
	Why        string              `json:"why"`
}

// findUser looks a user up by phone, unionid, external_userid or openid+appid.
func (h *apiHandler) findUser(c *gin.Context) {
	ctx := c.Request.Context()
	var u services.MarketingUser
	var err error
	switch q := c.Request.URL.Query(); {
	case q.Get("phone") != "":
		u, err = h.ids.FindUserByPhone(ctx, q.Get("phone"))
	case q.Get("unionid") != "":
		u, err = h.ids.FindUserByIdentity(ctx, services.KindUnionID, "", q.Get("unionid"))
	case q.Get("external_userid") != "":
		scope := q.Get("corpid")
		if scope == "" {
			scope = services.AnyScope
		}
		u, err = h.ids.FindUserByIdentity(ctx, services.KindExternalUserID, scope, q.Get("external_userid"))
	case q.Get("openid") != "" && q.Get("appid") != "":
		u, err = h.ids.FindUserByIdentity(ctx, services.KindOAOpenID, q.Get("appid"), q.Get("openid"))
		if services.ErrorCode(err) == services.ENOTFOUND {
			u, err = h.ids.FindUserByIdentity(ctx, services.KindMPOpenID, q.Get("appid"), q.Get("openid"))
		}
	default:
		err = services.Invalid("请提供 phone、unionid、external_userid 或 openid+appid 之一",
			map[string]string{"query": "phone | unionid | external_userid | openid+appid"})
	}
	if err != nil {
		web.Fail(c, err)
		return
	}
	h.writeUser(c, u)
}

// showUser answers a user by id; an absorbed id answers its survivor.
func (h *apiHandler) showUser(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		web.Fail(c, err)
		return
	}
	u, err := h.ids.FindUserByID(c.Request.Context(), id)
	if err != nil {
		web.Fail(c, err)
		return
	}
	h.writeUser(c, u)
}

func (h *apiHandler) writeUser(c *gin.Context, u services.MarketingUser) {
	ids, err := h.ids.Identities(c.Request.Context(), u.ID)
	if err != nil {
		web.Fail(c, err)
		return
	}
	showPII := apiKeyOf(c).Has(services.ScopePIIRead)
	out := userJSON{ID: u.ID, RequestedID: u.RequestedID, CreatedAt: u.CreatedAt, Identities: make([]identityJSON, len(ids))}
	for k, i := range ids {
		v := i.Key
		if i.Kind == services.KindPhone {
			v = services.MaskPhone(i.Phone)
			if showPII {
				v = i.Phone
			}
		}
		out.Identities[k] = identityJSON{ID: i.ID, Kind: string(i.Kind), Scope: i.Scope, Value: v, Verified: i.Verified,
			Attributes: i.Attrs, FirstSeen: i.FirstSeen, LastSeen: i.LastSeen, Why: i.Why()}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// listMoments answers a page of the user's timeline.
func (h *apiHandler) listMoments(c *gin.Context) {
	id, err := pathID(c)
	if err != nil {
		web.Fail(c, err)
		return
	}
	q := services.TimelineQuery{Cursor: c.Query("cursor"), Limit: 20}
	for _, k := range c.QueryArray("kind") {
		for part := range strings.SplitSeq(k, ",") {
			if part != "" {
				q.Kinds = append(q.Kinds, services.MomentKind(part))
			}
		}
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			web.Fail(c, services.Invalid("limit 应为 1–100", map[string]string{"limit": "1–100"}))
			return
		}
		q.Limit = n
	}
	page, err := h.ids.Timeline(c.Request.Context(), id, q)
	if err != nil {
		web.Fail(c, err)
		return
	}
	if page.Moments == nil {
		page.Moments = []services.Moment{}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"marketing_user_id": page.UserID, "moments": page.Moments, "next_cursor": page.Next})
}

func pathID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, services.Errorf(services.ENOTFOUND, "营销用户不存在")
	}
	return id, nil
}
