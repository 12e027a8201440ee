package wecom

import (
	"context"
	"errors"
	"strings"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/response"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
	msgReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/message/request"
)

// AppMessage is an app message (应用消息) to members. Exactly one of Text,
// TextCard and Markdown is used, in that order of preference.
type AppMessage struct {
	ToUsers   []string // userids; []string{"@all"} for everyone
	ToParties []string
	Text      string
	TextCard  *TextCard
	Markdown  string
}

// TextCard is a card with a link; Description accepts WeCom's small HTML.
type TextCard struct {
	Title, Description, URL, ButtonText string
}

// SendResult lists receivers WeCom skipped; a partly invalid list still
// sends (all invalid gives *APIError 81013). UnlicensedUsers are members
// without an interface licence (third-party and 代开发 apps): WeCom accepts
// the message but does not deliver it to them.
type SendResult struct {
	MsgID           string
	InvalidUsers    []string
	UnlicensedUsers []string
}

// SendAppMessage sends an app message as Config.AgentID (the SDK does not
// fill agentid in by itself).
func (c *Client) SendAppMessage(ctx context.Context, m AppMessage) (SendResult, error) {
	if len(m.ToUsers) == 0 && len(m.ToParties) == 0 {
		return SendResult{}, errors.New("wecom: message/send: no receivers")
	}
	base := msgReq.RequestMessageSend{ToUser: strings.Join(m.ToUsers, "|"), ToParty: strings.Join(m.ToParties, "|"), AgentID: c.cfg.AgentID}
	var payload any
	switch {
	case m.Text != "":
		base.MsgType = "text"
		payload = &msgReq.RequestMessageSendText{RequestMessageSend: base, Text: &msgReq.RequestText{Content: m.Text}}
	case m.TextCard != nil:
		base.MsgType = "textcard"
		payload = &msgReq.RequestMessageSendTextCard{RequestMessageSend: base, TextCard: &msgReq.RequestTextCard{
			Title: m.TextCard.Title, Description: m.TextCard.Description, Url: m.TextCard.URL, BtnTXT: m.TextCard.ButtonText}}
	case m.Markdown != "":
		base.MsgType = "markdown"
		payload = &msgReq.RequestMessageSendMarkdown{RequestMessageSend: base, Markdown: &msgReq.RequestMarkdown{Content: m.Markdown}}
	default:
		return SendResult{}, errors.New("wecom: message/send: empty message")
	}
	// Sent through the Message client's BaseClient (token, refresh-and-retry
	// and base URL still apply) because the SDK's ResponseMessageSend has no
	// unlicenseduser field (v3.4.41), and members skipped for want of a
	// licence must not count as reached.
	return onWork(ctx, c, c.agent, func(app *work.Work) (SendResult, error) {
		var res struct {
			response.ResponseWork
			InvalidUser    string `json:"invaliduser"`
			UnlicensedUser string `json:"unlicenseduser"`
			MsgID          string `json:"msgid"`
		}
		_, err := app.Message.BaseClient.HttpPostJson(ctx, "cgi-bin/message/send", payload, nil, nil, &res)
		if err := check("message/send", err, res.ErrCode, res.ErrMsg); err != nil {
			return SendResult{}, err
		}
		out := SendResult{MsgID: res.MsgID}
		if res.InvalidUser != "" {
			out.InvalidUsers = strings.Split(res.InvalidUser, "|")
		}
		if res.UnlicensedUser != "" {
			out.UnlicensedUsers = strings.Split(res.UnlicensedUser, "|")
		}
		return out, nil
	})
}
