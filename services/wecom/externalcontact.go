package wecom

import (
	"context"
	"errors"

	"github.com/ArtisanCloud/PowerLibs/v3/object"
	"github.com/ArtisanCloud/PowerSocialite/v3/src/models"
	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/response"
	ecReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/request"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// ExternalContact is a customer (客户) of the corp.
type ExternalContact struct {
	ExternalUserID string // wm… WeChat user (Type 1), wo… WeCom user (Type 2)
	Name           string
	Avatar         string
	Type           int
	Gender         int
	// UnionID is set only for WeChat users and only when the corp bound a
	// WeChat Open Platform account in 客户联系; it links OA/MP users.
	UnionID      string
	CorpName     string
	CorpFullName string
	Position     string
}

// FollowInfo is the relation between one member and a customer.
type FollowInfo struct {
	UserID         string
	Remark         string
	Description    string
	CreateTime     int64
	State          string // contact-way state the customer came through
	Tags           []ContactTag
	TagIDs         []string // batch/get_by_user only (corp and strategy tags)
	RemarkCorpName string
	RemarkMobiles  []string
	AddWay         int
	OperUserID     string
}

// ContactTag is a tag on a relation: Type 1 corp tag, 2 personal (no ID),
// 3 strategy tag.
type ContactTag struct {
	GroupName, TagName, TagID string
	Type                      int
}

// ContactDetail is externalcontact/get: the customer and every follower
// visible to the app.
type ContactDetail struct {
	Contact ExternalContact
	Follows []FollowInfo
}

// ContactRelation is one row of batch/get_by_user: a (customer, member) pair.
type ContactRelation struct {
	Contact ExternalContact
	Follow  FollowInfo
}

// RemarkInput edits a member's remark on a customer; empty fields are left
// unchanged (the SDK request has omitempty), RemarkMobiles replaces the list
// and []string{""} clears it.
type RemarkInput struct {
	UserID, ExternalUserID string
	Remark, Description    string
	RemarkCompany          string
	RemarkMobiles          []string
}

// FollowUsers lists members with customer contact enabled
// (get_follow_user_list).
func (c *Client) FollowUsers(ctx context.Context) ([]string, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) ([]string, error) {
		res, err := app.ExternalContact.GetFollowUsers(ctx)
		if err := check("externalcontact/get_follow_user_list", err, res.ErrCode, res.ErrMsg); err != nil {
			return nil, err
		}
		return res.FollowUser, nil
	})
}

// ListExternalContacts lists the external_userids of userID's customers. A
// member without customers answers *APIError 84061.
func (c *Client) ListExternalContacts(ctx context.Context, userID string) ([]string, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) ([]string, error) {
		res, err := app.ExternalContact.List(ctx, userID)
		if err := check("externalcontact/list", err, res.ErrCode, res.ErrMsg); err != nil {
			return nil, err
		}
		return res.ExternalUserID, nil
	})
}

// GetExternalContact reads one customer with all followers, following
// next_cursor (WeCom pages followers beyond 500).
func (c *Client) GetExternalContact(ctx context.Context, externalUserID string) (ContactDetail, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) (ContactDetail, error) {
		var out ContactDetail
		cursor := ""
		for page := 0; page < 100; page++ {
			res, err := app.ExternalContact.Get(ctx, externalUserID, cursor)
			if err != nil {
				return ContactDetail{}, check("externalcontact/get", err, 0, "")
			}
			// ResponseWeCom is an embedded pointer: nil when the body had no
			// errcode/errmsg at all.
			if res.ResponseWeCom != nil {
				if err := check("externalcontact/get", nil, res.ErrCode, res.ErrMSG); err != nil {
					return ContactDetail{}, err
				}
			}
			if page == 0 {
				out.Contact = fromSDKContact(res.ExternalContact)
			}
			for _, f := range res.FollowUsers {
				out.Follows = append(out.Follows, fromSDKFollow(f))
			}
			if res.NextCursor == "" || res.NextCursor == cursor {
				break
			}
			cursor = res.NextCursor
		}
		return out, nil
	})
}

// BatchGetByUser returns one page of batch/get_by_user for up to 100 members
// (limit 1–100, 0 means 100) and the next cursor, "" after the last page.
func (c *Client) BatchGetByUser(ctx context.Context, userIDs []string, cursor string, limit int) ([]ContactRelation, string, error) {
	if len(userIDs) == 0 || len(userIDs) > 100 {
		return nil, "", errors.New("wecom: batch/get_by_user: need 1 to 100 userids")
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	type page struct {
		rows []ContactRelation
		next string
	}
	p, err := onWork(ctx, c, c.contact, func(app *work.Work) (page, error) {
		res, err := app.ExternalContact.BatchGet(ctx, userIDs, cursor, limit)
		if err := check("externalcontact/batch/get_by_user", err, res.ErrCode, res.ErrMsg); err != nil {
			return page{}, err
		}
		rows := make([]ContactRelation, 0, len(res.ExternalContactList))
		for _, r := range res.ExternalContactList {
			if r == nil {
				continue
			}
			rows = append(rows, ContactRelation{Contact: fromSDKContact(r.ExternalContact), Follow: fromSDKFollow(r.FollowInfo)})
		}
		return page{rows: rows, next: res.NextCursor}, nil
	})
	return p.rows, p.next, err
}

// Remark edits a member's remark on a customer (externalcontact/remark).
func (c *Client) Remark(ctx context.Context, in RemarkInput) error {
	_, err := onWork(ctx, c, c.contact, func(app *work.Work) (struct{}, error) {
		res, err := app.ExternalContact.Remark(ctx, &ecReq.RequestExternalContactRemark{
			UserID: in.UserID, ExternalUserID: in.ExternalUserID, Remark: in.Remark, Description: in.Description,
			RemarkCompany: in.RemarkCompany, RemarkMobiles: in.RemarkMobiles,
		})
		return struct{}{}, check("externalcontact/remark", err, res.ErrCode, res.ErrMsg)
	})
	return err
}

// IDConversion is the answer of idconvert/unionid_to_external_userid:
// ExternalUserID when the WeChat user is already a customer, otherwise a
// PendingID (valid 90 days) to match against later add events.
type IDConversion struct {
	ExternalUserID string
	PendingID      string
}

// UnionIDToExternalUserID converts a unionid plus an openid of the same
// OA/mini program (corp subject, subject_type 0). WeCom documents this API for
// third-party and 代开发 apps; a self-built app usually reads unionid from
// GetExternalContact instead.
//
// The endpoint is called through the SDK's BaseClient.HttpPostJson (token,
// refresh-and-retry and base URL still apply) because
// ExternalContact.UnionIDToExternalUserID passes its result struct by value
// to the decoder and therefore always returns "" (still so in v3.4.41, see
// externalcontact_test.go), and IdConvert.UnionIDToExternalUserID's response
// type is not one of ours to extend.
func (c *Client) UnionIDToExternalUserID(ctx context.Context, unionID, openID string) (IDConversion, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) (IDConversion, error) {
		var res struct {
			response.ResponseWork
			ExternalUserID string `json:"external_userid"`
			PendingID      string `json:"pending_id"`
		}
		_, err := app.ExternalContact.BaseClient.HttpPostJson(ctx, "cgi-bin/idconvert/unionid_to_external_userid",
			&object.HashMap{"unionid": unionID, "openid": openID, "subject_type": 0}, nil, nil, &res)
		if err := check("idconvert/unionid_to_external_userid", err, res.ErrCode, res.ErrMsg); err != nil {
			return IDConversion{}, err
		}
		return IDConversion{ExternalUserID: res.ExternalUserID, PendingID: res.PendingID}, nil
	})
}

func fromSDKContact(e *models.ExternalContact) ExternalContact {
	if e == nil {
		return ExternalContact{}
	}
	return ExternalContact{
		ExternalUserID: e.ExternalUserID, Name: e.Name, Avatar: e.Avatar, Type: e.Type, Gender: e.Gender,
		UnionID: e.UnionID, CorpName: e.CorpName, CorpFullName: e.CorpFullName, Position: e.Position,
	}
}

func fromSDKFollow(f *models.FollowUser) FollowInfo {
	if f == nil {
		return FollowInfo{}
	}
	out := FollowInfo{
		UserID: f.UserID, Remark: f.Remark, Description: f.Description, CreateTime: int64(f.CreateTime),
		State: f.State, TagIDs: f.TagIDs, RemarkCorpName: f.RemarkCorpName, RemarkMobiles: f.RemarkMobiles,
		AddWay: f.AddWay, OperUserID: f.OperUserID,
	}
	for _, t := range f.Tags {
		out.Tags = append(out.Tags, ContactTag{GroupName: t.GroupName, TagName: t.TagName, TagID: t.TagID, Type: t.Type})
	}
	return out
}
