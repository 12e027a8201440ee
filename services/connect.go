package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
	"github.com/marketing-assistant/assistant/services/wxcrypto"
)

// WeChatBaseURLs point the adapter at a simulator; empty fields mean the
// real hosts. Demo mode sets them at run time (the sandbox's ports change
// between starts, so they are never saved).
type WeChatBaseURLs struct{ WeCom, Official, OAuth string }

// Connection is one build of everything derived from a settings version: the
// API client and the callback crypters.
type Connection struct {
	Settings WeComSettings
	// Client is nil when the WeCom app is not configured (ClientErr says why).
	Client    *wecom.Client
	ClientErr error
	// WeComCrypter opens /callbacks/wecom (receiveid = corp id); OACrypter
	// opens /callbacks/oa in compat and safe modes (receiveid = appid). Nil
	// when their token or key is not set.
	WeComCrypter *wxcrypto.Crypter
	OACrypter    *wxcrypto.Crypter
}

// WeChatProvider builds the WeCom / OA / MP client from the saved settings
// and rebuilds it when they change. Every client it builds keeps its tokens in
// PostgreSQL (wecom.PGCache) or Redis (NewCache), so all instances of the app
// share one token per secret. It implements handlers.WeChatClients.
type WeChatProvider struct {
	settings *SettingsService
	db       *sqlx.DB
	box      *pii.Box
	log      *slog.Logger
	// Recheck is how stale the settings version may be; a save in another
	// instance is picked up within it. Invalidate skips it for local saves.
	Recheck time.Duration
	// Transport, if set, is the clients' base round tripper (tests).
	Transport http.RoundTripper
	// NewCache, if set, makes the token cache of a corp (Redis when
	// REDIS_URL is set); by default tokens are kept in PostgreSQL.
	NewCache func(corpID string) wecom.Cache

	mu        sync.Mutex
	urls      WeChatBaseURLs
	cur       *Connection
	checkedAt time.Time
}

// NewWeChatProvider returns a provider over the settings.
func NewWeChatProvider(settings *SettingsService, db *sqlx.DB, box *pii.Box, log *slog.Logger) *WeChatProvider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WeChatProvider{settings: settings, db: db, box: box, log: log, Recheck: time.Second}
}

// SetBaseURLs points every later client at other hosts (demo mode).
func (p *WeChatProvider) SetBaseURLs(u WeChatBaseURLs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls, p.cur = u, nil
}

// Invalidate makes the next call re-read the settings version.
func (p *WeChatProvider) Invalidate() {
	p.mu.Lock()
	p.checkedAt = time.Time{}
	p.mu.Unlock()
}

// Current returns the connection of the saved settings, rebuilding it when
// their version changed.
func (p *WeChatProvider) Current(ctx context.Context) (*Connection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil && time.Since(p.checkedAt) < p.Recheck {
		return p.cur, nil
	}
	v, err := p.settings.SettingsVersion(ctx)
	if err != nil {
		if p.cur != nil {
			return p.cur, nil // keep serving with what we have while the database is away
		}
		return nil, err
	}
	if p.cur == nil || p.cur.Settings.Version != v {
		s, err := p.settings.Settings(ctx)
		if err != nil {
			return nil, err
		}
		p.cur = p.build(s)
	}
	p.checkedAt = time.Now()
	return p.cur, nil
}

func (p *WeChatProvider) build(s WeComSettings) *Connection {
	c := &Connection{Settings: s}
	if s.CallbackToken != "" && s.CallbackAESKey != "" && s.CorpID != "" {
		if cr, err := wxcrypto.NewCrypter(s.CallbackToken, s.CallbackAESKey, s.CorpID); err == nil {
			c.WeComCrypter = cr
		}
	}
	if s.OAToken != "" && s.OAAESKey != "" && s.OAAppID != "" {
		if cr, err := wxcrypto.NewCrypter(s.OAToken, s.OAAESKey, s.OAAppID); err == nil {
			c.OACrypter = cr
		}
	}
	if !s.WeComConfigured() {
		c.ClientErr = Errorf(EUNAVAILABLE, "尚未连接企业微信与公众号，请管理员在设置页完成配置")
		return c
	}
	client, err := wecom.New(p.config(s), p.cacheFor(s.CorpID), p.log)
	if err != nil {
		p.log.Warn("wecom: cannot build the client from the saved settings", "err", err, "version", s.Version)
		c.ClientErr = Errorf(EUNAVAILABLE, "企业微信设置无效，请管理员检查设置页")
		return c
	}
	c.Client = client
	return c
}

func (p *WeChatProvider) cacheFor(corpID string) wecom.Cache {
	if p.NewCache != nil {
		return p.NewCache(corpID)
	}
	return wecom.NewPGCache(p.db, corpID, p.box)
}

func (p *WeChatProvider) config(s WeComSettings) wecom.Config {
	return wecom.Config{
		CorpID: s.CorpID, AgentID: s.AgentID, AgentSecret: s.AgentSecret, ContactSecret: s.ContactSecret,
		ContactsSyncSecret: s.ContactsSyncSecret, CallbackToken: s.CallbackToken, CallbackAESKey: s.CallbackAESKey,
		OA:           wecom.OAConfig{AppID: s.OAAppID, Secret: s.OASecret, Token: s.OAToken, AESKey: s.OAAESKey},
		MP:           wecom.MPConfig{AppID: s.MPAppID, Secret: s.MPSecret},
		WeComBaseURL: p.urls.WeCom, OABaseURL: p.urls.Official, OAuthBaseURL: p.urls.OAuth,
		Transport: p.Transport,
	}
}

// WeChat returns the client of the saved settings (handlers.WeChatClients).
// Errors: EUNAVAILABLE when nothing is connected.
func (p *WeChatProvider) WeChat(ctx context.Context) (*wecom.Client, error) {
	c, err := p.Current(ctx)
	if err != nil {
		return nil, err
	}
	if c.Client == nil {
		return nil, c.ClientErr
	}
	return c.Client, nil
}

// Apps that TestConnection checks.
const (
	AppWeCom = "wecom"
	AppOA    = "oa"
	AppMP    = "mp"
)

// ConnectionResult is the outcome of a connection test, fit for the page.
type ConnectionResult struct {
	App     string
	OK      bool
	Code    int    // WeChat errcode, 0 when none
	Message string // what happened
	Advice  string // what to do
}

// TestConnection calls the real API of one app with the saved settings and
// turns the answer into advice.
func (p *WeChatProvider) TestConnection(ctx context.Context, app string) ConnectionResult {
	res := ConnectionResult{App: app}
	c, err := p.Current(ctx)
	if err != nil {
		res.Message = ErrorMessage(err)
		return res
	}
	if c.Client == nil {
		res.Message, res.Advice = "企业微信尚未配置", "请先填写企业ID和应用 Secret 并保存。"
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch app {
	case AppWeCom:
		err = c.Client.CheckConnection(ctx)
	case AppOA:
		if !c.Settings.OAConfigured() {
			res.Message, res.Advice = "公众号尚未配置", "请填写公众号 AppID 和 AppSecret 并保存。"
			return res
		}
		_, _, _, err = c.Client.OAFollowers(ctx, "")
	case AppMP:
		if !c.Settings.MPConfigured() {
			res.Message, res.Advice = "小程序尚未配置", "请填写小程序 AppID 和 AppSecret 并保存。"
			return res
		}
		// A made-up code: the token fetch proves appid and secret, and the
		// 40029 that follows proves the API answers.
		_, err = c.Client.MPCodeToSession(ctx, "connection-test")
		if wecom.IsAPIError(err, 40029, 40163) {
			err = nil
		}
	default:
		res.Message = "未知的应用"
		return res
	}
	return describe(res, err)
}

func describe(res ConnectionResult, err error) ConnectionResult {
	if err == nil {
		res.OK, res.Message = true, "连接成功"
		return res
	}
	var ae *wecom.APIError
	if errors.As(err, &ae) {
		res.Code = ae.Code
		res.Message = fmt.Sprintf("接口返回错误码 %d（%s）", ae.Code, ae.Msg)
		res.Advice = ae.Advice()
		if res.Advice == "" {
			res.Advice = "请对照企业微信 / 微信开放文档中的全局错误码说明处理。"
		}
		return res
	}
	if errors.Is(err, context.DeadlineExceeded) {
		res.Message, res.Advice = "连接超时", "请检查本服务器能否访问 qyapi.weixin.qq.com / api.weixin.qq.com（出口网络、代理、防火墙）。"
		return res
	}
	res.Message, res.Advice = "无法连接", "请检查本服务器的网络与 DNS；详细错误已写入日志。"
	return res
}
