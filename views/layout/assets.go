// Package layout holds the page shells: Mobile (WeUI, for the sidebar and the
// customer forms) and Admin (desktop console).
package layout

import "context"

// AssetPaths maps an embedded asset name to its checksum URL.
type AssetPaths interface {
	Path(name string) string
}

type assetsKey struct{}

// WithAssets returns ctx carrying the asset table, so components can link
// assets without globals.
func WithAssets(ctx context.Context, a AssetPaths) context.Context {
	return context.WithValue(ctx, assetsKey{}, a)
}

// Asset returns the URL of the named asset.
func Asset(ctx context.Context, name string) string {
	a, ok := ctx.Value(assetsKey{}).(AssetPaths)
	if !ok {
		panic("layout: no assets in context; install the assets middleware")
	}
	return a.Path(name)
}

// Page describes the shell of a page.
type Page struct {
	Title string
	// Scripts are extra asset names loaded after htmx, in order.
	Scripts []string
	// BodyClass names the page for CSS and tests.
	BodyClass string
}

// htmxConfig keeps a strict CSP possible (no eval, no injected styles) and
// makes htmx swap 422 answers, which carry in-place validation errors.
const htmxConfig = `{"allowEval":false,"includeIndicatorStyles":false,"historyCacheSize":0,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},` +
	`{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}]}`
