package services

import (
	"context"
	"strings"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// oa handles Official Account events: subscribe (with qrscene_), unsubscribe,
// SCAN, CLICK and VIEW. The openid is linked with the unionid read through
// cgi-bin/user/info, so fans meet their WeCom and mini-program selves.
func (h handling) oa(ctx context.Context) error {
	ev := h.ev
	if ev.MsgType != "event" || ev.FromUserName == "" {
		return nil
	}
	switch ev.Event {
	case "subscribe":
		scene := strings.TrimPrefix(ev.EventKey, "qrscene_")
		return h.oaMoment(ctx, "oa_subscribed", "关注了公众号", scene, true, detail("scene", scene))
	case "unsubscribe":
		return h.oaMoment(ctx, "oa_unsubscribed", "取消关注公众号", "", false, nil)
	case "SCAN":
		return h.oaMoment(ctx, "oa_scanned", "扫描了公众号二维码", ev.EventKey, true, detail("scene", ev.EventKey))
	case "CLICK":
		return h.oaMoment(ctx, "oa_menu_clicked", "点击了公众号菜单", "", true, detail("key", ev.EventKey))
	case "VIEW":
		return h.oaMoment(ctx, "oa_menu_clicked", "打开了公众号菜单链接", "", true, detail("url", ev.EventKey, "menu_id", ev.MenuID))
	}
	return nil
}

func (h handling) oaMoment(ctx context.Context, kind MomentKind, title, channel string, subscribed bool, det []byte) error {
	ev, appID := h.ev, h.conn.Settings.OAAppID
	u := wecom.OAUser{OpenID: ev.FromUserName, Subscribe: subscribed}
	if subscribed {
		c, err := h.client()
		if err != nil {
			return err
		}
		info, err := c.OAUser(ctx, ev.FromUserName)
		if err != nil && !wecom.IsAPIError(err, 40003) { // 40003: not a user of this account
			return err
		}
		if err == nil {
			u = info
		}
	}
	if err := h.p.mirror.SaveFollower(ctx, h.corp, appID, u, channel, subscribed, ev.at()); err != nil {
		return err
	}
	ids := []IdentityInput{{Kind: KindOAOpenID, Scope: appID, Key: ev.FromUserName}}
	if u.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: u.UnionID})
	}
	key := dedup(kind, appID, ev.FromUserName, ev.CreateTime, ev.EventKey)
	if kind == "oa_subscribed" {
		key = subscribedKey(appID, ev.FromUserName, ev.CreateTime)
	}
	m := MomentInput{Kind: kind, Channel: channel, Title: title, Detail: det, DedupKey: key}
	return h.link(ctx, "oa", ids, []MomentInput{m})
}
