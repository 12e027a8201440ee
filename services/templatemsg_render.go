package services

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// TemplateFan is a recipient as the rendering needs it.
type TemplateFan struct {
	ID       int64  `db:"id"` // the recipient row (0 outside a send)
	UserID   int64  `db:"user_id"`
	OpenID   string `db:"openid"`
	Nickname string `db:"nickname"`
}

// TemplatePreview is a send rendered for one fan.
type TemplatePreview struct {
	Fan    TemplateFan
	Values []TemplateValue // in the template's order
	URL    string
}

// TemplateValue is one rendered field.
type TemplateValue struct{ Name, Value string }

// templateLinkTTL is how long a template message's form link stays attributed.
const templateLinkTTL = 30 * 24 * time.Hour

// nicknameSQL is the fan's best known name: a nickname, else a name, on any
// identity of the user.
const nicknameSQL = `coalesce((SELECT coalesce(nullif(j.attrs->>'nickname', ''), j.attrs->>'name') FROM identities j
WHERE j.user_id = %s AND coalesce(nullif(j.attrs->>'nickname', ''), j.attrs->>'name', '') <> '' ORDER BY j.id LIMIT 1), '')`

// render fills the send's fields for fan.
func (s *TemplateMessageService) render(snd TemplateSend, fan TemplateFan, now time.Time) wecom.TemplateMessage {
	m := wecom.TemplateMessage{ToOpenID: fan.OpenID, TemplateID: snd.TemplateID, Data: map[string]string{}}
	for _, name := range snd.TplFields {
		m.Data[name] = fieldValue(snd, snd.Fields[name], fan, now)
	}
	if snd.FormSlug != "" {
		at := Attribution{Channel: "template"}
		m.URL = s.attr.AttributedLink(s.baseURL, Form{Slug: snd.FormSlug}, at, templateLinkTTL,
			map[string]string{"utm_source": "wechat_oa", "utm_medium": "template", "utm_campaign": fmt.Sprintf("tm%d", snd.ID)})
	}
	return m
}

func fieldValue(snd TemplateSend, f TemplateField, fan TemplateFan, now time.Time) string {
	if f.Kind != TplFieldVar {
		return f.Value
	}
	switch f.Value {
	case "nickname":
		if fan.Nickname != "" {
			return fan.Nickname
		}
		return "朋友"
	case "date":
		return now.Format("2006年01月02日")
	case "form_title":
		return snd.FormTitle
	}
	return ""
}

// SampleFan returns the fan openid of the send's audience (or, with openid
// set, that fan of the account). Errors: ENOTFOUND when there is none.
func (s *TemplateMessageService) SampleFan(ctx context.Context, snd TemplateSend, openid string) (TemplateFan, error) {
	var fan TemplateFan
	var err error
	if openid != "" {
		err = s.db.GetContext(ctx, &fan, `SELECT 0 AS id, i.user_id, i.key AS openid, `+fmt.Sprintf(nicknameSQL, "i.user_id")+` AS nickname
FROM identities i WHERE i.kind = 'oa_openid' AND i.scope = $1 AND i.key = $2`, snd.AppID, openid)
		return fan, notFound(err, "该粉丝")
	}
	ids, err := s.segments.UserIDs(ctx, snd.SegmentID)
	if err != nil {
		return fan, err
	}
	err = s.db.GetContext(ctx, &fan, `SELECT 0 AS id, i.user_id, i.key AS openid, `+fmt.Sprintf(nicknameSQL, "i.user_id")+` AS nickname
FROM identities i WHERE i.kind = 'oa_openid' AND i.scope = $1 AND i.user_id = ANY($2) ORDER BY i.id LIMIT 1`, snd.AppID, pq.Array(ids))
	return fan, notFound(err, "人群中的公众号粉丝")
}

// Preview renders the send for a sample fan (openid, or the audience's first).
func (s *TemplateMessageService) Preview(ctx context.Context, id int64, openid string) (TemplatePreview, error) {
	snd, err := s.Send(ctx, id)
	if err != nil {
		return TemplatePreview{}, err
	}
	fan, err := s.SampleFan(ctx, snd, openid)
	if err != nil {
		return TemplatePreview{}, err
	}
	m := s.render(snd, fan, time.Now())
	p := TemplatePreview{Fan: fan, URL: m.URL}
	for _, name := range snd.TplFields {
		p.Values = append(p.Values, TemplateValue{Name: name, Value: m.Data[name]})
	}
	return p, nil
}

// TestSend sends the send's message to one fan of the account, outside the
// job (nothing is recorded as a recipient), audited. Admins only. Errors:
// EFORBIDDEN, ENOTFOUND, EINVALID (WeChat refused, with its errcode in the
// message).
func (s *TemplateMessageService) TestSend(ctx context.Context, id int64, openid string, by Actor) (int64, error) {
	if err := by.requireAdmin(); err != nil {
		return 0, err
	}
	if openid == "" {
		return 0, Invalid("请填写测试粉丝的 openid", map[string]string{"openid": "请填写 openid"})
	}
	snd, err := s.Send(ctx, id)
	if err != nil {
		return 0, err
	}
	fan, err := s.SampleFan(ctx, snd, openid)
	if err != nil {
		return 0, err
	}
	c, err := s.client(ctx)
	if err != nil {
		return 0, err
	}
	msgid, err := c.OASendTemplateOnce(ctx, s.render(snd, fan, time.Now()), "")
	var ae *wecom.APIError
	if errors.As(err, &ae) {
		return 0, Invalid(fmt.Sprintf("微信拒绝发送（%d）：%s", ae.Code, ErrcodeText(ae.Code)), map[string]string{"openid": ErrcodeText(ae.Code)})
	}
	if err != nil {
		return 0, err
	}
	return msgid, s.audit.Record(ctx, AuditEntry{ActorKind: by.Kind, ActorID: by.ID, IP: by.IP, Action: "template_test_sent",
		TargetKind: "template_send", TargetID: fmt.Sprint(id), Detail: map[string]any{"msgid": msgid}})
}

// ErrcodeText explains a template send errcode to the admin.
func ErrcodeText(code int) string {
	switch code {
	case 40003:
		return "openid 无效（不是本公众号的用户）"
	case 40037:
		return "模板 ID 无效（模板已被删除？请重新同步）"
	case 43004:
		return "用户未关注公众号"
	case 47003:
		return "参数不符合模板要求（如 thing 字段超过 20 字）"
	case 45009:
		return "已达今日发送上限"
	case -1:
		return "微信系统繁忙"
	}
	return "其他错误"
}
