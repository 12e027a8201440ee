package wecom

import (
	"context"

	"github.com/ArtisanCloud/PowerLibs/v3/object"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/response"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount"
)

// OATemplate is a template of the account's library (我的模板).
type OATemplate struct {
	TemplateID string `json:"template_id"`
	Title      string `json:"title"`
	Content    string `json:"content"` // with {{name.DATA}} placeholders
	Example    string `json:"example"`
}

// OATemplates lists the account's templates
// (cgi-bin/template/get_all_private_template).
//
// Called as a GET through the template client's BaseClient: the SDK's
// GetPrivateTemplates POSTs an empty body, while WeChat documents the
// endpoint as GET.
func (c *Client) OATemplates(ctx context.Context) ([]OATemplate, error) {
	return onOA(ctx, c, func(app *officialAccount.OfficialAccount) ([]OATemplate, error) {
		var res struct {
			response.ResponseOfficialAccount
			TemplateList []OATemplate `json:"template_list"`
		}
		_, err := app.TemplateMessage.BaseClient.HttpGet(ctx, "cgi-bin/template/get_all_private_template", nil, nil, &res)
		if err := check("cgi-bin/template/get_all_private_template", err, res.ErrCode, res.ErrMsg); err != nil {
			return nil, err
		}
		return res.TemplateList, nil
	})
}

// OASendTemplateOnce sends a template message with a client_msg_id: WeChat
// answers a repeated id with the first message's msgid and sends nothing,
// so a send resumed after a crash cannot reach anyone twice.
//
// Called through the template client's BaseClient because the SDK's
// request type (RequestTemlateMessage) has no client_msg_id field.
func (c *Client) OASendTemplateOnce(ctx context.Context, m TemplateMessage, clientMsgID string) (int64, error) {
	data := object.HashMap{}
	for k, v := range m.Data {
		data[k] = object.HashMap{"value": v}
	}
	body := object.HashMap{"touser": m.ToOpenID, "template_id": m.TemplateID, "data": data, "client_msg_id": clientMsgID}
	if m.URL != "" {
		body["url"] = m.URL
	}
	if m.MiniProgramAppID != "" {
		body["miniprogram"] = object.HashMap{"appid": m.MiniProgramAppID, "pagepath": m.MiniProgramPath}
	}
	return onOA(ctx, c, func(app *officialAccount.OfficialAccount) (int64, error) {
		var res struct {
			response.ResponseOfficialAccount
			MsgID int64 `json:"msgid"`
		}
		_, err := app.TemplateMessage.BaseClient.HttpPostJson(ctx, "cgi-bin/message/template/send", &body, nil, nil, &res)
		if err := check("cgi-bin/message/template/send", err, res.ErrCode, res.ErrMsg); err != nil {
			return 0, err
		}
		return res.MsgID, nil
	})
}
