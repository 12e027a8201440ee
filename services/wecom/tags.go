package wecom

import (
	"context"
	"errors"

	tagReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/tag/request"
	tagRes "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/tag/response"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// TagGroup is a group of corp customer tags (企业客户标签).
type TagGroup struct {
	GroupID   string
	GroupName string
	Order     int
	Tags      []CorpTag
}

// CorpTag is one corp tag; a larger Order sorts first.
type CorpTag struct {
	ID    string
	Name  string
	Order int
}

// CorpTags returns the corp tag library (get_corp_tag_list). With groupIDs,
// only those groups; tagIDs are ignored by WeCom when groupIDs are given.
func (c *Client) CorpTags(ctx context.Context, tagIDs, groupIDs []string) ([]TagGroup, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) ([]TagGroup, error) {
		res, err := app.ExternalContactTag.GetCorpTagList(ctx, nonNil(tagIDs), nonNil(groupIDs))
		if err := check("externalcontact/get_corp_tag_list", err, res.ErrCode, res.ErrMsg); err != nil {
			return nil, err
		}
		out := make([]TagGroup, 0, len(res.TagGroups))
		for _, g := range res.TagGroups {
			if g != nil {
				out = append(out, fromSDKTagGroup(g))
			}
		}
		return out, nil
	})
}

// AddCorpTag adds tags to the group groupID, or to the group named groupName
// (created if missing) when groupID is "". It returns the group with the new
// tags' ids.
func (c *Client) AddCorpTag(ctx context.Context, groupID, groupName string, tagNames ...string) (TagGroup, error) {
	if len(tagNames) == 0 {
		return TagGroup{}, errors.New("wecom: add_corp_tag: no tag names")
	}
	req := &tagReq.RequestTagAddCorpTag{GroupName: groupName}
	if groupID != "" {
		req.GroupID = &groupID
	}
	for _, n := range tagNames {
		req.Tag = append(req.Tag, tagReq.RequestTagAddCorpTagFieldTag{Name: n})
	}
	return onWork(ctx, c, c.contact, func(app *work.Work) (TagGroup, error) {
		res, err := app.ExternalContactTag.AddCorpTag(ctx, req)
		if err := check("externalcontact/add_corp_tag", err, res.ErrCode, res.ErrMsg); err != nil {
			return TagGroup{}, err
		}
		if res.TagGroups == nil {
			return TagGroup{}, nil
		}
		return fromSDKTagGroup(res.TagGroups), nil
	})
}

// MarkTag adds and removes corp tags on the relation (userID,
// externalUserID). WeCom fires no callback for it.
func (c *Client) MarkTag(ctx context.Context, userID, externalUserID string, add, remove []string) error {
	if len(add) == 0 && len(remove) == 0 {
		return errors.New("wecom: mark_tag: add and remove are both empty")
	}
	_, err := onWork(ctx, c, c.contact, func(app *work.Work) (struct{}, error) {
		res, err := app.ExternalContactTag.MarkTag(ctx, &tagReq.RequestTagMarkTag{
			UserID: userID, ExternalUserID: externalUserID, AddTag: nonNil(add), RemoveTag: nonNil(remove),
		})
		return struct{}{}, check("externalcontact/mark_tag", err, res.ErrCode, res.ErrMsg)
	})
	return err
}

func fromSDKTagGroup(g *tagRes.CorpTagGroup) TagGroup {
	out := TagGroup{GroupID: g.GroupID, GroupName: g.GroupName, Order: g.Order}
	for _, t := range g.Tags {
		if t != nil && !t.Deleted {
			out.Tags = append(out.Tags, CorpTag{ID: t.ID, Name: t.Name, Order: t.Order})
		}
	}
	return out
}

// nonNil sends [] instead of null for absent lists.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
