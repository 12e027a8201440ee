package wecom

import (
	"context"
	"errors"
	"fmt"

	"github.com/ArtisanCloud/PowerLibs/v3/object"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/power"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/response"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount"
	tplReq "github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount/templateMessage/request"
	userReq "github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount/user/request"
	userRes "github.com/ArtisanCloud/PowerWeChat/v3/src/officialAccount/user/response"
)

// OAUser is cgi-bin/user/info. For Subscribe == false WeChat returns little
// more than the openid.
type OAUser struct {
	OpenID         string
	UnionID        string
	Subscribe      bool
	SubscribeTime  int64
	SubscribeScene string // e.g. ADD_SCENE_QR_CODE
	QRScene        int
	QRSceneStr     string // scene of the parametric QR code that brought the follower
	Remark         string
	TagIDs         []int
}

// OAUser reads one user of the Official Account.
func (c *Client) OAUser(ctx context.Context, openID string) (OAUser, error) {
	return onOA(ctx, c, func(app *officialAccount.OfficialAccount) (OAUser, error) {
		res, err := app.User.Get(ctx, openID, "zh_CN")
		if err := check("cgi-bin/user/info", err, res.ErrCode, res.ErrMsg); err != nil {
			return OAUser{}, err
		}
		return fromSDKOAUser(res), nil
	})
}

// OAFollowers returns up to 10,000 follower openids after nextOpenID ("" for
// the first page) and the cursor for the next call; it returns "" when done
// (WeChat may repeat the last openid on the final page, so an empty page
// also ends the listing).
func (c *Client) OAFollowers(ctx context.Context, nextOpenID string) (openIDs []string, next string, total int, err error) {
	type page struct {
		ids   []string
		next  string
		total int
	}
	p, err := onOA(ctx, c, func(app *officialAccount.OfficialAccount) (page, error) {
		res, err := app.User.List(ctx, nextOpenID)
		if err := check("cgi-bin/user/get", err, res.ErrCode, res.ErrMsg); err != nil {
			return page{}, err
		}
		p := page{ids: res.Data.OpenID, next: res.NextOpenID, total: res.Total}
		if res.Count == 0 || len(p.ids) == 0 || p.next == nextOpenID {
			p.next = ""
		}
		return p, nil
	})
	return p.ids, p.next, p.total, err
}

// OAUsersBatch reads up to 100 users (cgi-bin/user/info/batchget).
func (c *Client) OAUsersBatch(ctx context.Context, openIDs []string) ([]OAUser, error) {
	if len(openIDs) == 0 || len(openIDs) > 100 {
		return nil, errors.New("wecom: user/info/batchget: need 1 to 100 openids")
	}
	req := &userReq.RequestBatchGetUserInfo{}
	for _, id := range openIDs {
		req.UserList = append(req.UserList, &userReq.UserList{Openid: id, Lang: "zh_CN"})
	}
	return onOA(ctx, c, func(app *officialAccount.OfficialAccount) ([]OAUser, error) {
		res, err := app.User.BatchGet(ctx, req)
		if err := check("cgi-bin/user/info/batchget", err, res.ErrCode, res.ErrMsg); err != nil {
			return nil, err
		}
		out := make([]OAUser, 0, len(res.ResponseGetUserInfo))
		for _, u := range res.ResponseGetUserInfo {
			if u != nil {
				out = append(out, fromSDKOAUser(u))
			}
		}
		return out, nil
	})
}

// QRCode is a parametric OA QR code; ImageURL is scannable as is.
type QRCode struct {
	Ticket        string
	ExpireSeconds int64
	URL           string // content of the code (weixin.qq.com/q/…)
	ImageURL      string // mp.weixin.qq.com/cgi-bin/showqrcode?ticket=…
}

// OACreateQRCode creates a QR code carrying scene (1–64 chars). With
// expireSeconds > 0 it is temporary (≤ 2,592,000 s), otherwise permanent
// (≤100,000 per account). A follower scanning it fires subscribe
// (EventKey "qrscene_"+scene) or SCAN (EventKey scene).
//
// Called through the QRCode client's BaseClient because the SDK's response
// type (ResponseQRCodeCreate) has no errcode field: a refused request would
// look like success with an empty ticket.
func (c *Client) OACreateQRCode(ctx context.Context, scene string, expireSeconds int) (QRCode, error) {
	if scene == "" || len(scene) > 64 {
		return QRCode{}, errors.New("wecom: qrcode/create: scene must be 1 to 64 characters")
	}
	body := object.HashMap{"action_info": object.HashMap{"scene": object.HashMap{"scene_str": scene}}}
	if expireSeconds > 0 {
		body["action_name"] = "QR_STR_SCENE"
		body["expire_seconds"] = expireSeconds
	} else {
		body["action_name"] = "QR_LIMIT_STR_SCENE"
	}
	return onOA(ctx, c, func(app *officialAccount.OfficialAccount) (QRCode, error) {
		var res struct {
			response.ResponseOfficialAccount
			Ticket        string `json:"ticket"`
			ExpireSeconds int64  `json:"expire_seconds"`
			URL           string `json:"url"`
		}
		_, err := app.QRCode.BaseClient.HttpPostJson(ctx, "cgi-bin/qrcode/create", &body, nil, nil, &res)
		if err := check("cgi-bin/qrcode/create", err, res.ErrCode, res.ErrMsg); err != nil {
			return QRCode{}, err
		}
		if res.Ticket == "" {
			return QRCode{}, fmt.Errorf("wecom: cgi-bin/qrcode/create: empty ticket")
		}
		return QRCode{Ticket: res.Ticket, ExpireSeconds: res.ExpireSeconds, URL: res.URL, ImageURL: app.QRCode.URL(res.Ticket)}, nil
	})
}

// TemplateMessage is an OA template message. Data maps keyword names to
// values ({"thing1": "…"}). MiniProgram wins over URL when both are set.
type TemplateMessage struct {
	ToOpenID         string
	TemplateID       string
	URL              string
	MiniProgramAppID string
	MiniProgramPath  string
	Data             map[string]string
}

// OASendTemplate sends a template message and returns its msgid (also in the
// later TEMPLATESENDJOBFINISH event). Non-followers give *APIError 43004.
func (c *Client) OASendTemplate(ctx context.Context, m TemplateMessage) (int64, error) {
	data := power.HashMap{}
	for k, v := range m.Data {
		data[k] = power.HashMap{"value": v}
	}
	req := &tplReq.RequestTemlateMessage{ToUser: m.ToOpenID, TemplateID: m.TemplateID, URL: m.URL, Data: &data}
	if m.MiniProgramAppID != "" {
		req.MiniProgram = &tplReq.MiniProgram{AppID: m.MiniProgramAppID, PagePath: m.MiniProgramPath}
	}
	return onOA(ctx, c, func(app *officialAccount.OfficialAccount) (int64, error) {
		res, err := app.TemplateMessage.Send(ctx, req)
		if err := check("cgi-bin/message/template/send", err, res.ErrCode, res.ErrMsg); err != nil {
			return 0, err
		}
		return res.MsgID, nil
	})
}

func fromSDKOAUser(u *userRes.ResponseGetUserInfo) OAUser {
	return OAUser{OpenID: u.OpenID, UnionID: u.UnionID, Subscribe: u.Subscribe == 1, SubscribeTime: int64(u.SubscribeTime),
		SubscribeScene: u.SubscribeScene, QRScene: u.QrScene, QRSceneStr: u.QrSceneStr, Remark: u.Remark, TagIDs: u.TagIDList}
}
