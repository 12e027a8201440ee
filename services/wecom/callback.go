package wecom

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/contract"
)

// CallbackEvent is a decrypted WeCom callback (change_external_contact,
// change_external_chat, change_external_tag, change_contact, …). Only the
// fields the app uses are decoded; Raw holds the decrypted XML.
type CallbackEvent struct {
	ToUserName     string `xml:"ToUserName"`
	CreateTime     int64  `xml:"CreateTime"`
	MsgType        string `xml:"MsgType"`
	Event          string `xml:"Event"`
	ChangeType     string `xml:"ChangeType"`
	UserID         string `xml:"UserID"`
	ExternalUserID string `xml:"ExternalUserID"`
	State          string `xml:"State"`
	WelcomeCode    string `xml:"WelcomeCode"`
	Source         string `xml:"Source"`
	ChatID         string `xml:"ChatId"`
	UpdateDetail   string `xml:"UpdateDetail"`
	TagID          string `xml:"Id"`
	TagType        string `xml:"TagType"`
	Raw            []byte `xml:"-"`
}

// VerifyCallbackURL answers WeCom's GET URL verification: it checks
// msg_signature and returns the decrypted echostr, which is the exact
// response body. (The SDK's Server.Serve panicked on this request in
// v3.2.58; VerifyURL is the call that works.)
func (c *Client) VerifyCallbackURL(r *http.Request) ([]byte, error) {
	app, err := c.agent.get(r.Context())
	if err != nil {
		return nil, fmt.Errorf("wecom: callback: %w", err)
	}
	defer c.agent.put(app)
	rs, err := app.Server.VerifyURL(r)
	if err != nil {
		return nil, fmt.Errorf("wecom: callback: verify url: %w", err)
	}
	defer rs.Body.Close()
	return io.ReadAll(rs.Body)
}

// ReadCallback checks and decrypts a WeCom callback POST. The handler
// answers "success" with status 200 once it has stored the event.
//
// The SDK's decryption checks msg_signature but neither the receiveid nor
// the timestamp; the receiveid check (ToUserName == CorpID) is done here.
func (c *Client) ReadCallback(r *http.Request) (CallbackEvent, error) {
	if r.Header.Get("Content-Type") == "" {
		// The SDK picks XML or JSON by Content-Type and falls back to JSON.
		r.Header.Set("Content-Type", "text/xml")
	}
	app, err := c.agent.get(r.Context())
	if err != nil {
		return CallbackEvent{}, fmt.Errorf("wecom: callback: %w", err)
	}
	defer c.agent.put(app)
	var ev CallbackEvent
	var perr error
	_, err = app.Server.Notify(r, func(e contract.EventInterface) any {
		ev.Raw = append([]byte(nil), e.GetContent()...)
		perr = xml.Unmarshal(ev.Raw, &ev)
		return "success"
	})
	if err != nil {
		return CallbackEvent{}, fmt.Errorf("wecom: callback: %w", err)
	}
	if perr != nil {
		return CallbackEvent{}, fmt.Errorf("wecom: callback: decode: %w", perr)
	}
	if ev.ToUserName != c.cfg.CorpID {
		return CallbackEvent{}, fmt.Errorf("wecom: callback: addressed to %q, not this corp", ev.ToUserName)
	}
	return ev, nil
}
