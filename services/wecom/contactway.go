package wecom

import (
	"context"
	"errors"

	cwReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/contactWay/request"
	mtReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/messageTemplate/request"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// ContactWayInput configures a 「联系我」 QR code (add_contact_way).
type ContactWayInput struct {
	// Users are the members the customer is routed to: exactly one makes a
	// single-member way (type 1), more a multi-member way (type 2); ≤100.
	Users []string
	// State (≤30 chars) comes back in follow_user.state and in the add
	// event, which is how a lead is attributed to its channel.
	State      string
	Remark     string // ≤30 chars
	SkipVerify bool
}

// ContactWay is a configured 「联系我」 way.
type ContactWay struct {
	ConfigID string
	QRCode   string // image URL (scene 2)
	State    string
	Users    []string
	Remark   string
}

// AddContactWay creates a QR-code contact way (scene 2).
func (c *Client) AddContactWay(ctx context.Context, in ContactWayInput) (ContactWay, error) {
	if len(in.Users) == 0 {
		return ContactWay{}, errors.New("wecom: add_contact_way: no users")
	}
	typ := 1
	if len(in.Users) > 1 {
		typ = 2
	}
	return onWork(ctx, c, c.contact, func(app *work.Work) (ContactWay, error) {
		// The SDK request has no omitempty; it also sends "party":null,
		// "expires_in":0, "conclusions":null, which WeCom ignores for a
		// non-temporary way.
		res, err := app.ExternalContactContactWay.Add(ctx, &cwReq.RequestAddContactWay{
			Type: typ, Scene: 2, State: in.State, Remark: in.Remark, SkipVerify: in.SkipVerify, User: in.Users, Party: []int{},
		})
		if err := check("externalcontact/add_contact_way", err, res.ErrCode, res.ErrMsg); err != nil {
			return ContactWay{}, err
		}
		return ContactWay{ConfigID: res.ConfigID, QRCode: res.QRCode, State: in.State, Users: in.Users, Remark: in.Remark}, nil
	})
}

// GetContactWay reads a contact way by config id.
func (c *Client) GetContactWay(ctx context.Context, configID string) (ContactWay, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) (ContactWay, error) {
		res, err := app.ExternalContactContactWay.Get(ctx, configID)
		if err := check("externalcontact/get_contact_way", err, res.ErrCode, res.ErrMsg); err != nil {
			return ContactWay{}, err
		}
		w := res.ContactWay
		if w == nil {
			return ContactWay{}, errors.New("wecom: get_contact_way: no contact_way in answer")
		}
		return ContactWay{ConfigID: w.ConfigID, QRCode: w.QrCode, State: w.State, Users: w.User, Remark: w.Remark}, nil
	})
}

// DeleteContactWay deletes a contact way (del_contact_way).
func (c *Client) DeleteContactWay(ctx context.Context, configID string) error {
	_, err := onWork(ctx, c, c.contact, func(app *work.Work) (struct{}, error) {
		res, err := app.ExternalContactContactWay.Delete(ctx, configID)
		return struct{}{}, check("externalcontact/del_contact_way", err, res.ErrCode, res.ErrMsg)
	})
	return err
}

// Link is a link card attachment.
type Link struct {
	Title, Desc, URL, PicURL string
}

// SendWelcomeMsg sends the welcome message for the welcome_code of an add
// event. WeCom accepts it once, within 20 s of the event; later calls give
// 41050/41051.
func (c *Client) SendWelcomeMsg(ctx context.Context, code, text string, links []Link) error {
	if text == "" && len(links) == 0 {
		return errors.New("wecom: send_welcome_msg: empty message")
	}
	req := &mtReq.RequestSendWelcomeMsg{WelcomeCode: code, Attachments: []mtReq.MessageTemplateInterface{}}
	if text != "" {
		req.Text = &mtReq.TextOfMessage{Content: text}
	}
	for _, l := range links {
		// MsgType must be set by hand: the SDK does not use GetMsgType()
		// when marshalling.
		req.Attachments = append(req.Attachments, &mtReq.LinkOfMessage{MsgType: "link",
			Link: &mtReq.Link{Title: l.Title, Desc: l.Desc, URL: l.URL, PicURL: l.PicURL}})
	}
	_, err := onWork(ctx, c, c.contact, func(app *work.Work) (struct{}, error) {
		res, err := app.ExternalContactMessageTemplate.SendWelcomeMsg(ctx, req)
		return struct{}{}, check("externalcontact/send_welcome_msg", err, res.ErrCode, res.ErrMsg)
	})
	return err
}
