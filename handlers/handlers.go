// Package handlers translates HTTP into service calls and view models.
//
// Each surface has its own handler type and route registration; Register
// installs them all on the engine. Handlers parse input, call one service
// method, map its error and render a view. They hold no SQL and no rules.
package handlers

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/marketing-assistant/assistant/views/layout"
)

// Assets is the embedded static file table.
type Assets interface {
	layout.AssetPaths
	Handler() http.Handler
}

// Pinger reports whether the database answers.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Deps are what the handlers need, built by cmd/assistant.
type Deps struct {
	Log     *slog.Logger
	Version string
	Assets  Assets
	DB      Pinger
	// Landing lists extra surfaces on the landing page (e.g. the sandbox console).
	Landing []LandingLink
}

// LandingLink is one extra entry for the landing page.
type LandingLink struct{ Title, Description, URL string }

// Register installs every route on e.
func Register(e *gin.Engine, d Deps) {
	e.GET("/static/*file", gin.WrapH(d.Assets.Handler()))
	e.HEAD("/static/*file", gin.WrapH(d.Assets.Handler()))
	health := &healthHandler{db: d.DB}
	e.GET("/healthz", health.live)
	e.GET("/readyz", health.ready)
	home := &homeHandler{version: d.Version, extra: d.Landing}
	e.GET("/", home.landing)
}
