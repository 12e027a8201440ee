// Package wecom is the project's only door to WeCom (企业微信), the Official
// Account and the mini program. It wraps PowerWeChat v3.4.41, returns plain
// structs defined here, and turns WeChat errcodes into *APIError.
//
// Where an SDK helper is broken the adapter calls the endpoint through the
// SDK's own BaseClient (token, refresh-and-retry and base URL still apply);
// each such place says why.
package wecom

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/miniProgram"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// Client talks to WeCom, the Official Account and the mini program. It is
// safe for concurrent use.
type Client struct {
	cfg       Config
	log       *slog.Logger
	cache     Cache
	tokens    *tokenManager
	driver    *logDriver
	transport http.RoundTripper

	agent   *pool[*work.Work] // AgentSecret: OAuth, messages, JS-SDK, contacts
	contact *pool[*work.Work] // ContactSecret (or agent): customer contact
	sync    *pool[*work.Work] // ContactsSyncSecret (or agent): user/list_id
	oa      *pool[*officialAccount.OfficialAccount]
	mp      *pool[*miniProgram.MiniProgram]
}

// New builds the adapter. cache holds tokens and tickets (share one between
// instances of the app to share tokens); log receives the SDK's own logging at
// Debug, redacted. One SDK app per configured secret is created eagerly so
// that configuration errors surface here.
func New(cfg Config, cache Cache, log *slog.Logger) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cache == nil {
		// Never let the SDK fall back to its process-global, disk-backed cache.
		cache = NewMemoryCache()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:       cfg,
		log:       log,
		cache:     cache,
		tokens:    newTokenManager(cache, log, cfg.timeout()),
		driver:    newLogDriver(log),
		transport: newTransport(cfg.Transport),
	}
	size := cfg.poolSize()
	c.agent = newPool(size, func() (*work.Work, error) { return c.newWork(cfg.AgentSecret) })
	c.contact, c.sync = c.agent, c.agent
	if cfg.ContactSecret != "" && cfg.ContactSecret != cfg.AgentSecret {
		c.contact = newPool(size, func() (*work.Work, error) { return c.newWork(cfg.ContactSecret) })
	}
	if cfg.ContactsSyncSecret != "" && cfg.ContactsSyncSecret != cfg.AgentSecret {
		c.sync = newPool(size, func() (*work.Work, error) { return c.newWork(cfg.ContactsSyncSecret) })
	}
	if cfg.OA.AppID != "" {
		c.oa = newPool(size, c.newOA)
	}
	if cfg.MP.AppID != "" {
		c.mp = newPool(size, c.newMP)
	}
	// Build one instance of each now: NewWork rejects e.g. a malformed AES key.
	ctx := context.Background()
	for _, p := range []*pool[*work.Work]{c.agent, c.contact, c.sync} {
		app, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		p.put(app)
	}
	if c.oa != nil {
		app, err := c.oa.get(ctx)
		if err != nil {
			return nil, err
		}
		c.oa.put(app)
	}
	if c.mp != nil {
		app, err := c.mp.get(ctx)
		if err != nil {
			return nil, err
		}
		c.mp.put(app)
	}
	return c, nil
}

func (c *Client) timeoutSeconds() float64 { return c.cfg.timeout().Seconds() }

func (c *Client) newWork(secret string) (*work.Work, error) {
	app, err := work.NewWork(&work.UserConfig{
		CorpID:  c.cfg.CorpID,
		AgentID: c.cfg.AgentID,
		Secret:  secret,
		Token:   c.cfg.CallbackToken,
		AESKey:  c.cfg.CallbackAESKey,
		// NewWork fails without an http(s) callback. The SDK's authorize-URL
		// builder is broken (random parameter order, empty redirect_uri), so
		// AuthorizeURL builds the URL itself and this value is never used.
		OAuth: work.OAuth{Callback: "https://localhost/unused", Scopes: []string{"snsapi_base"}},
		Cache: c.cache,
		Http:  work.Http{BaseURI: c.cfg.weComBase(), Timeout: c.timeoutSeconds(), Transport: c.transport},
		Log:   work.Log{Driver: c.driver},
	})
	if err != nil {
		return nil, fmt.Errorf("wecom: new work app: %w", err)
	}
	c.tokens.install(app.AccessToken.AccessToken)
	return app, nil
}

func (c *Client) newOA() (*officialAccount.OfficialAccount, error) {
	app, err := officialAccount.NewOfficialAccount(&officialAccount.UserConfig{
		AppID:  c.cfg.OA.AppID,
		Secret: c.cfg.OA.Secret,
		Token:  c.cfg.OA.Token,
		AESKey: c.cfg.OA.AESKey,
		OAuth:  officialAccount.OAuth{Callback: "https://localhost/unused", Scopes: []string{"snsapi_base"}},
		Cache:  c.cache,
		Http:   officialAccount.Http{BaseURI: c.cfg.oaBase(), Timeout: c.timeoutSeconds(), Transport: c.transport},
		Log:    officialAccount.Log{Driver: c.driver},
	})
	if err != nil {
		return nil, fmt.Errorf("wecom: new official account app: %w", err)
	}
	c.tokens.install(app.AccessToken.AccessToken)
	// PowerSocialite hard-codes https://api.weixin.qq.com/sns and PowerWeChat
	// v3.4.41 never passes Http.BaseURI on (#660 is not fixed for the OA app),
	// so point it at the configured host ourselves.
	app.OAuth.SetBaseUrl(c.cfg.oaBase() + "sns")
	return app, nil
}

func (c *Client) newMP() (*miniProgram.MiniProgram, error) {
	app, err := miniProgram.NewMiniProgram(&miniProgram.UserConfig{
		AppID:  c.cfg.MP.AppID,
		Secret: c.cfg.MP.Secret,
		Cache:  c.cache,
		Http:   miniProgram.Http{BaseURI: c.cfg.oaBase(), Timeout: c.timeoutSeconds(), Transport: c.transport},
		Log:    miniProgram.Log{Driver: c.driver},
	})
	if err != nil {
		return nil, fmt.Errorf("wecom: new mini program app: %w", err)
	}
	c.tokens.install(app.AccessToken.AccessToken)
	return app, nil
}

// withApp borrows an app from p, makes sure its access token is cached (so a
// token failure is returned as an error, not hidden in the SDK hook), runs fn
// and returns the app.
func withApp[T any, R any](ctx context.Context, c *Client, p *pool[T], at func(T) *kernel.AccessToken, fn func(T) (R, error)) (R, error) {
	var zero R
	if p == nil {
		return zero, errNotConfigured
	}
	app, err := p.get(ctx)
	if err != nil {
		return zero, fmt.Errorf("wecom: %w", err)
	}
	defer p.put(app)
	if _, err := c.tokens.accessToken(ctx, at(app), false); err != nil {
		return zero, err
	}
	return fn(app)
}

func workToken(app *work.Work) *kernel.AccessToken { return app.AccessToken.AccessToken }
func oaToken(app *officialAccount.OfficialAccount) *kernel.AccessToken {
	return app.AccessToken.AccessToken
}
func mpToken(app *miniProgram.MiniProgram) *kernel.AccessToken { return app.AccessToken.AccessToken }

// onWork runs fn with an app of pool p.
func onWork[R any](ctx context.Context, c *Client, p *pool[*work.Work], fn func(*work.Work) (R, error)) (R, error) {
	return withApp(ctx, c, p, workToken, fn)
}

func onOA[R any](ctx context.Context, c *Client, fn func(*officialAccount.OfficialAccount) (R, error)) (R, error) {
	return withApp(ctx, c, c.oa, oaToken, fn)
}

func onMP[R any](ctx context.Context, c *Client, fn func(*miniProgram.MiniProgram) (R, error)) (R, error) {
	return withApp(ctx, c, c.mp, mpToken, fn)
}

var errNotConfigured = fmt.Errorf("wecom: app not configured")

// CheckConnection fetches a fresh access token with the agent secret (and
// the other configured secrets), proving corp id, secrets and IP whitelist.
// It returns *APIError (see Advice) when WeChat refuses.
func (c *Client) CheckConnection(ctx context.Context) error {
	seen := map[*pool[*work.Work]]bool{}
	for _, p := range []*pool[*work.Work]{c.agent, c.contact, c.sync} {
		if seen[p] {
			continue
		}
		seen[p] = true
		app, err := p.get(ctx)
		if err != nil {
			return fmt.Errorf("wecom: %w", err)
		}
		_, err = c.tokens.accessToken(ctx, app.AccessToken.AccessToken, true)
		p.put(app)
		if err != nil {
			return err
		}
	}
	return nil
}
