package wecom

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/ArtisanCloud/PowerLibs/v3/object"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/miniProgram"
)

// MPSession is the public part of jscode2session. The session_key is
// deliberately not exposed: the app never decrypts wx.getUserInfo data
// itself, and a leaked session_key lets anyone forge that data.
type MPSession struct {
	OpenID  string
	UnionID string // only when the mini program is bound to an Open Platform account
}

// MPPhone is the phone number behind a getPhoneNumber button code. It is
// personal data: encrypt at rest and never log it.
type MPPhone struct {
	PhoneNumber     string // with country code for non-mainland numbers
	PurePhoneNumber string
	CountryCode     string
}

// MPCodeToSession exchanges a wx.login code (single use, 5 minutes).
func (c *Client) MPCodeToSession(ctx context.Context, code string) (MPSession, error) {
	return onMP(ctx, c, func(app *miniProgram.MiniProgram) (MPSession, error) {
		res, err := app.Auth.Session(ctx, code)
		if err := check("sns/jscode2session", err, res.ErrCode, res.ErrMsg); err != nil {
			return MPSession{}, err
		}
		return MPSession{OpenID: res.OpenID, UnionID: res.UnionID}, nil
	})
}

// MPPhoneNumber exchanges a getPhoneNumber code
// (wxa/business/getuserphonenumber).
//
// Called through the PhoneNumber client's BaseClient because the SDK's
// response type declares countryCode as a string while WeChat sends a number
// ("countryCode":86): decoding fails and the helper returns an error for
// every successful answer.
func (c *Client) MPPhoneNumber(ctx context.Context, code string) (MPPhone, error) {
	return onMP(ctx, c, func(app *miniProgram.MiniProgram) (MPPhone, error) {
		var res struct {
			ErrCode   int    `json:"errcode"`
			ErrMsg    string `json:"errmsg"`
			PhoneInfo *struct {
				PhoneNumber     string      `json:"phoneNumber"`
				PurePhoneNumber string      `json:"purePhoneNumber"`
				CountryCode     json.Number `json:"countryCode"`
			} `json:"phone_info"`
		}
		_, err := app.PhoneNumber.BaseClient.HttpPostJson(ctx, "wxa/business/getuserphonenumber",
			&object.HashMap{"code": code}, nil, nil, &res)
		if err := check("wxa/business/getuserphonenumber", err, res.ErrCode, res.ErrMsg); err != nil {
			return MPPhone{}, err
		}
		if res.PhoneInfo == nil {
			return MPPhone{}, errors.New("wecom: wxa/business/getuserphonenumber: no phone_info in answer")
		}
		return MPPhone{PhoneNumber: res.PhoneInfo.PhoneNumber, PurePhoneNumber: res.PhoneInfo.PurePhoneNumber,
			CountryCode: res.PhoneInfo.CountryCode.String()}, nil
	})
}
