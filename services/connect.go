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

	mu         sync.Mutex // guards the fields below; never held over I/O
	urls       WeChatBaseURLs
	cur        *Connection
	checkedAt  time.Time
	stale      bool   // Invalidate: the next call waits for a fresh read
	refreshing bool   // a background refresh is running
	gen        uint64 // bumped by SetBaseURLs: a refresh begun before it is dropped

	refreshMu sync.Mutex // one refresh at a time
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
	p.gen++
}

// Invalidate makes the next call re-read the settings version.
func (p *WeChatProvider) Invalidate() {
	p.mu.Lock()
	p.stale = true
	p.mu.Unlock()
}

// Current returns the connection of the saved settings, rebuilding it when
// their version changed. It is on the callback hot path, so once a
// connection exists it never waits for the database: when the version is
// older than Recheck, one background refresh re-reads it while every caller
// goes on with the current connection (a save in another instance shows
// within Recheck plus one query). Only the first call, and the first after
// Invalidate (a save in this instance), wait for the read.
func (p *WeChatProvider) Current(ctx context.Context) (*Connection, error) {
	p.mu.Lock()
	cur, usable := p.cur, p.cur != nil && !p.stale
	if usable && time.Since(p.checkedAt) >= p.Recheck && !p.refreshing {
		p.refreshing = true
		go p.refreshInBackground()
	}
	p.mu.Unlock()
	if usable {
		return cur, nil
	}
	return p.refresh(ctx, true)
}

func (p *WeChatProvider) refreshInBackground() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.refresh(ctx, false); err != nil {
		p.log.Warn("wecom: re-reading the settings failed; the current connection stays", "err", err)
	}
	p.mu.Lock()
	p.refreshing = false
	p.mu.Unlock()
}

// refresh reads the settings version and rebuilds the connection when it
// changed. wait is false for the background refresh, which leaves a
// connection that became stale meanwhile to the caller that waits for it.
func (p *WeChatProvider) refresh(ctx context.Context, wait bool) (*Connection, error) {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	p.mu.Lock()
	cur, stale, checked, gen := p.cur, p.stale, p.checkedAt, p.gen
	p.mu.Unlock()
	if wait && cur != nil && !stale && time.Since(checked) < p.Recheck {
		return cur, nil // refreshed by another caller while this one waited
	}
	v, err := p.settings.SettingsVersion(ctx)
	if err != nil {
		if cur != nil {
			return cur, nil // keep serving with what we have while the database is away
		}
		return nil, err
	}
	if cur == nil || cur.Settings.Version != v {
		s, err := p.settings.Settings(ctx)
		if err != nil {
			return nil, err
		}
		cur = p.build(s)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen {
		return cur, nil // SetBaseURLs ran meanwhile: this connection points at the old hosts
	}
	p.cur, p.checkedAt = cur, time.Now()
	if wait {
		p.stale = false
	}
	return cur, nil
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
	p.mu.Lock()
	urls := p.urls
	p.mu.Unlock()
	return wecom.Config{
		CorpID: s.CorpID, AgentID: s.AgentID, AgentSecret: s.AgentSecret, ContactSecret: s.ContactSecret,
		ContactsSyncSecret: s.ContactsSyncSecret, CallbackToken: s.CallbackToken, CallbackAESKey: s.CallbackAESKey,
		OA:           wecom.OAConfig{AppID: s.OAAppID, Secret: s.OASecret, Token: s.OAToken, AESKey: s.OAAESKey},
		MP:           wecom.MPConfig{AppID: s.MPAppID, Secret: s.MPSecret},
		WeComBaseURL: urls.WeCom, OABaseURL: urls.Official, OAuthBaseURL: urls.OAuth,
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
