package wecom

import (
	"context"
	"errors"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
	mtReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/messageTemplate/request"
	mtRes "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/messageTemplate/response"
)

// MaxMassRecipients is WeCom's limit of external_userid per add_msg_template.
const MaxMassRecipients = 10000

// maxPages bounds a paged read, so a server that keeps answering a cursor
// cannot loop us forever (10,000 customers are 10 pages of 1,000).
const maxPages = 200

// MiniProgram is a mini-program card attachment. PicMediaID is a temporary
// media id (upload/media); WeCom requires it.
type MiniProgram struct {
	Title, PicMediaID, AppID, Page string
}

// MassMessage is one 企业群发 to customers (chat_type single) from one
// sender: the text and at most one attachment (a link or a mini program).
type MassMessage struct {
	Sender          string
	ExternalUserIDs []string // ≤ MaxMassRecipients, customers of Sender
	Text            string
	Link            *Link
	MiniProgram     *MiniProgram
}

// MassMessageResult is add_msg_template's answer: the task's msgid and the
// customers WeCom refused (not a customer of the sender, unknown).
type MassMessageResult struct {
	MsgID    string
	FailList []string
}

// AddMsgTemplate creates a mass message task: the sender confirms it in
// WeCom, which then sends it to the customers.
func (c *Client) AddMsgTemplate(ctx context.Context, m MassMessage) (MassMessageResult, error) {
	if m.Sender == "" || len(m.ExternalUserIDs) == 0 || len(m.ExternalUserIDs) > MaxMassRecipients {
		return MassMessageResult{}, errors.New("wecom: add_msg_template: need a sender and 1–10000 customers")
	}
	req := &mtReq.RequestAddMsgTemplate{ChatType: "single", Sender: m.Sender, ExternalUserID: m.ExternalUserIDs,
		ChatIdList: []string{}, Attachments: []mtReq.MessageTemplateInterface{}}
	if m.Text != "" {
		req.Text = &mtReq.TextOfMessage{Content: m.Text}
	}
	// MsgType is set by hand: the SDK does not call GetMsgType() when marshalling.
	if m.Link != nil {
		req.Attachments = append(req.Attachments, &mtReq.LinkOfMessage{MsgType: "link",
			Link: &mtReq.Link{Title: m.Link.Title, Desc: m.Link.Desc, URL: m.Link.URL, PicURL: m.Link.PicURL}})
	}
	if p := m.MiniProgram; p != nil {
		req.Attachments = append(req.Attachments, &mtReq.MiniProgramOfMessage{MsgType: "miniprogram",
			MiniProgram: &mtReq.MiniProgram{Title: p.Title, PicMediaID: p.PicMediaID, AppID: p.AppID, Page: p.Page}})
	}
	return onWork(ctx, c, c.contact, func(app *work.Work) (MassMessageResult, error) {
		res, err := app.ExternalContactMessageTemplate.AddMsgTemplate(ctx, req)
		if err := check("externalcontact/add_msg_template", err, res.ErrCode, res.ErrMsg); err != nil {
			return MassMessageResult{}, err
		}
		return MassMessageResult{MsgID: res.MsgID, FailList: res.FailList}, nil
	})
}

// MassTask is one member's task of a mass message: status 0 not yet sent,
// 1 sent, 2 not sent because the message was cancelled or expired.
type MassTask struct {
	UserID   string
	Status   int
	SendTime int64
}

// GroupMsgTasks lists every member task of msgid (get_groupmsg_task, all pages).
//
// Called through the client's BaseClient: the SDK's GetGroupMsgTask sends the
// page cursor as "msgcursorid", which WeCom ignores, so its second page
// would be the first again.
func (c *Client) GroupMsgTasks(ctx context.Context, msgID string) ([]MassTask, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) ([]MassTask, error) {
		var out []MassTask
		cursor := ""
		for page := 0; page < maxPages; page++ {
			var res mtRes.ResponseGetGroupMsgTask
			body := map[string]any{"msgid": msgID, "limit": 1000, "cursor": cursor}
			_, err := app.ExternalContactMessageTemplate.BaseClient.HttpPostJson(ctx, "cgi-bin/externalcontact/get_groupmsg_task", &body, nil, nil, &res)
			if err := check("externalcontact/get_groupmsg_task", err, res.ErrCode, res.ErrMsg); err != nil {
				return nil, err
			}
			for _, t := range res.TaskList {
				out = append(out, MassTask{UserID: t.UserID, Status: t.Status, SendTime: int64(t.SendTime)})
			}
			if cursor = res.NextCursor; cursor == "" {
				return out, nil
			}
		}
		return nil, errors.New("wecom: get_groupmsg_task: too many pages")
	})
}

// MassSendResult is one customer's outcome: status 0 not sent, 1 sent,
// 2 not a customer (any more), 3 already received another mass message.
type MassSendResult struct {
	ExternalUserID string
	UserID         string
	Status         int
	SendTime       int64
}

// GroupMsgSendResults lists the per-customer results of one member's task
// (get_groupmsg_send_result, all pages).
func (c *Client) GroupMsgSendResults(ctx context.Context, msgID, userID string) ([]MassSendResult, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) ([]MassSendResult, error) {
		var out []MassSendResult
		cursor := ""
		for page := 0; page < maxPages; page++ {
			res, err := app.ExternalContactMessageTemplate.GetGroupMsgSendResult(ctx, msgID, userID, 1000, cursor)
			if res == nil {
				res = &mtRes.ResponseGetGroupMsgSendResult{}
			}
			if err := check("externalcontact/get_groupmsg_send_result", err, res.ErrCode, res.ErrMsg); err != nil {
				return nil, err
			}
			for _, r := range res.SendList {
				out = append(out, MassSendResult{ExternalUserID: r.ExternalUserID, UserID: r.UserID, Status: r.Status, SendTime: int64(r.SendTime)})
			}
			if cursor = res.NextCursor; cursor == "" {
				return out, nil
			}
		}
		return nil, errors.New("wecom: get_groupmsg_send_result: too many pages")
	})
}

// GroupMsg is one mass message in get_groupmsg_list_v2.
type GroupMsg struct {
	MsgID      string
	Creator    string
	CreateTime int64
	CreateType int // 0 by the corp (API or admin console), 1 by a member
	Text       string
}

// GroupMsgList lists the corp's single-chat mass messages created between
// start and end (unix seconds; WeCom allows at most one month), all pages.
func (c *Client) GroupMsgList(ctx context.Context, start, end int64) ([]GroupMsg, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) ([]GroupMsg, error) {
		var out []GroupMsg
		cursor := ""
		for page := 0; page < maxPages; page++ {
			res, err := app.ExternalContactMessageTemplate.GetGroupMsgListV2(ctx, &mtReq.RequestGetGroupMsgListV2{
				ChatType: "single", StartTime: start, EndTime: end, Limit: 100, Cursor: cursor})
			if res == nil {
				res = &mtRes.ResponseGetGroupMsgListV2{}
			}
			if err := check("externalcontact/get_groupmsg_list_v2", err, res.ErrCode, res.ErrMsg); err != nil {
				return nil, err
			}
			for _, m := range res.GroupMsgList {
				out = append(out, GroupMsg{MsgID: m.MsgID, Creator: m.Creator, CreateTime: int64(m.CreateTime), CreateType: m.CreateType, Text: m.Text.Content})
			}
			if cursor = res.NextCursor; cursor == "" {
				return out, nil
			}
		}
		return nil, errors.New("wecom: get_groupmsg_list_v2: too many pages")
	})
}

// MassMessageAdvice explains the errcodes of 企业群发 to an administrator
// ("" when there is nothing specific to say).
func MassMessageAdvice(code int) string {
	switch code {
	case 41048:
		return "没有可发送的客户：所选客户都不是该员工的客户"
	case 41046, 41047:
		return "群发消息 ID 缺失或无效"
	case 41063:
		return "群发消息正在派发中，请稍后再刷新"
	case 90207:
		return "小程序 AppID 不合法，或未关联到企业"
	case 40058:
		return "参数不合法（如消息过长、客户过多）"
	case 60111:
		return "员工不存在或不在应用可见范围内"
	case 45009, 45033:
		return "调用频率超过企业微信限制，请稍后重试"
	}
	return (&APIError{Code: code}).Advice()
}
