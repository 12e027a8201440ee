package wecom

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ArtisanCloud/PowerLibs/v3/object"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/response"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// Signature is what ww.register's getConfigSignature and
// getAgentConfigSignature callbacks return.
type Signature struct {
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// ConfigSignature signs pageURL with the corp jsapi_ticket (wx.config /
// getConfigSignature). The part of pageURL from '#' on is dropped, as the
// JS-SDK does.
func (c *Client) ConfigSignature(ctx context.Context, pageURL string) (Signature, error) {
	ticket, err := c.ticket(ctx, false)
	if err != nil {
		return Signature{}, err
	}
	return newSignature(ticket, pageURL, time.Now())
}

// AgentConfigSignature signs pageURL with the app's agent_config ticket
// (wx.agentConfig / getAgentConfigSignature), needed by the chat-toolbar
// APIs (getCurExternalContact, sendChatMessage).
func (c *Client) AgentConfigSignature(ctx context.Context, pageURL string) (Signature, error) {
	ticket, err := c.ticket(ctx, true)
	if err != nil {
		return Signature{}, err
	}
	return newSignature(ticket, pageURL, time.Now())
}

// ticket returns the cached corp or agent ticket, fetching it once per
// expiry across goroutines (and instances sharing the Cache).
//
// The SDK's own ticket helpers (JSSDK.GetTicket, GetAgentTicket) cache
// correctly in v3.4.41, but panic on an answer without "errcode"
// (`.(float64)` assertion), return errors.New(errmsg) without the errcode,
// and build the corp ticket URL as base + "/cgi-bin/get_jsapi_ticket" (a
// double slash with the SDK's default base). So the tickets are fetched here
// through the SDK's BaseClient, under the SDK's cache keys.
func (c *Client) ticket(ctx context.Context, agent bool) (string, error) {
	return onWork(ctx, c, c.agent, func(app *work.Work) (string, error) {
		key := "powerwechat.basic_service.jssdk.ticket.jsapi." + c.cfg.CorpID
		endpoint, op := "cgi-bin/get_jsapi_ticket", "get_jsapi_ticket"
		query := &object.StringMap{}
		if agent {
			key = fmt.Sprintf("powerwechat.work.jssdk.ticket.%d.agent_config.%s", c.cfg.AgentID, c.cfg.CorpID)
			endpoint, op = "cgi-bin/ticket/get", "ticket/get"
			query = &object.StringMap{"type": "agent_config"}
		}
		return c.tokens.obtain(ctx, key, "ticket", false, func(ctx context.Context) (map[string]any, time.Duration, error) {
			var res struct {
				response.ResponseWork
				Ticket    string  `json:"ticket"`
				ExpiresIn float64 `json:"expires_in"`
			}
			_, err := app.JSSDK.BaseClient.HttpGet(ctx, endpoint, query, nil, &res)
			if err := check(op, err, res.ErrCode, res.ErrMsg); err != nil {
				return nil, 0, err
			}
			if res.Ticket == "" {
				return nil, 0, fmt.Errorf("wecom: %s: empty ticket", op)
			}
			if res.ExpiresIn <= 0 {
				res.ExpiresIn = 7200
			}
			return map[string]any{"ticket": res.Ticket, "expires_in": res.ExpiresIn}, cacheTTL(res.ExpiresIn), nil
		})
	})
}

func newSignature(ticket, pageURL string, now time.Time) (Signature, error) {
	nonce, err := nonceStr(16)
	if err != nil {
		return Signature{}, err
	}
	ts := now.Unix()
	return Signature{Timestamp: ts, NonceStr: nonce, Signature: JSSDKSignature(ticket, nonce, strconv.FormatInt(ts, 10), pageURL)}, nil
}

// JSSDKSignature is the JS-SDK signature: hex SHA-1 of
// "jsapi_ticket=T&noncestr=N&timestamp=TS&url=U", keys in this order, no
// URL-encoding, and the URL without its fragment.
func JSSDKSignature(ticket, nonce, timestamp, pageURL string) string {
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	sum := sha1.Sum([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonce + "&timestamp=" + timestamp + "&url=" + pageURL))
	return hex.EncodeToString(sum[:])
}

const nonceAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func nonceStr(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("wecom: nonce: %w", err)
	}
	for i := range b {
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b), nil
}
