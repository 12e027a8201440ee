package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/services"
	"github.com/marketing-assistant/assistant/web"
)

// IdentityAPI is what the CRM API needs from the identity engine.
type IdentityAPI interface {
	Link(ctx context.Context, o services.Observation) (services.LinkResult, error)
	FindUserByID(ctx context.Context, id int64) (services.MarketingUser, error)
	FindUserByIdentity(ctx context.Context, kind services.IdentityKind, scope, key string) (services.MarketingUser, error)
	FindUserByPhone(ctx context.Context, phone string) (services.MarketingUser, error)
	Identities(ctx context.Context, userID int64) ([]services.Identity, error)
	Timeline(ctx context.Context, userID int64, q services.TimelineQuery) (services.TimelinePage, error)
}

// APIKeys authenticates CRM API keys and keeps Idempotency-Key answers.
type APIKeys interface {
	Authenticate(ctx context.Context, secret string, use services.APIKeyUse) (services.APIKey, error)
	BeginIdempotent(ctx context.Context, keyID int64, idemKey string, body []byte) (*services.IdempotentAnswer, error)
	FinishIdempotent(ctx context.Context, keyID int64, idemKey string, a services.IdempotentAnswer) error
	AbandonIdempotent(ctx context.Context, keyID int64, idemKey string) error
}

type apiHandler struct {
	ids  IdentityAPI
	keys APIKeys
}

const keyAPIKey = "handlers.api_key"

// registerAPI installs the CRM API under /api/v1. The OpenAPI document is
// public; everything else needs a Bearer key with the route's scope.
func registerAPI(e *gin.Engine, ids IdentityAPI, keys APIKeys) {
	h := &apiHandler{ids: ids, keys: keys}
	g := e.Group("/api/v1", web.API())
	g.GET("/openapi.json", h.openAPI)
	g.POST("/identities", h.auth(services.ScopeIdentitiesWrite), h.pushIdentities)
	g.GET("/marketing-users", h.auth(services.ScopeUsersRead), h.findUser)
	g.GET("/marketing-users/:id", h.auth(services.ScopeUsersRead), h.showUser)
	g.GET("/marketing-users/:id/moments", h.auth(services.ScopeUsersRead), h.listMoments)
}

// auth checks the Bearer key and the scope the route needs (the service
// checks both and audits the key's use).
func (h *apiHandler) auth(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		secret, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok || secret == "" {
			c.Header("WWW-Authenticate", `Bearer realm="assistant"`)
			web.Fail(c, services.Errorf(services.EUNAUTHORIZED, "需要 Authorization: Bearer API 密钥"))
			c.Abort()
			return
		}
		use := services.APIKeyUse{Scope: scope, Route: c.Request.Method + " " + c.FullPath(), IP: c.ClientIP()}
		key, err := h.keys.Authenticate(c.Request.Context(), strings.TrimSpace(secret), use)
		if err != nil {
			if services.ErrorCode(err) == services.EUNAUTHORIZED {
				c.Header("WWW-Authenticate", `Bearer realm="assistant", error="invalid_token"`)
			}
			web.Fail(c, err)
			c.Abort()
			return
		}
		c.Set(keyAPIKey, key)
		c.Next()
	}
}

func apiKeyOf(c *gin.Context) services.APIKey {
	k, _ := c.Get(keyAPIKey)
	key, _ := k.(services.APIKey)
	return key
}

func (h *apiHandler) openAPI(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", openAPIDoc)
}
