package wecom

import (
	"context"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/kernel/power"
	gcReq "github.com/ArtisanCloud/PowerWeChat/v3/src/work/externalContact/groupChat/request"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// GroupChatRef is one row of groupchat/list. Status: 0 normal, 1 owner
// left, 2 inheritance in progress, 3 inherited.
type GroupChatRef struct {
	ChatID string
	Status int
}

// GroupChat is a customer group (客户群).
type GroupChat struct {
	ChatID     string
	Name       string
	Owner      string
	CreateTime int64
	Notice     string
	Members    []ChatMember
	Admins     []string
}

// ChatMember is a group member: Type 1 a member (UserID is a userid), 2 a
// customer (UserID is an external_userid, UnionID as for contacts).
type ChatMember struct {
	UserID    string
	Type      int
	UnionID   string
	JoinTime  int64
	JoinScene int
	State     string
	Name      string
	Nickname  string
}

// ListGroupChats returns one page of groupchat/list, filtered by owners
// (≤100; WeCom answers 81017 without a filter when >1000 members are
// visible). limit 1–1000, 0 means 1000.
func (c *Client) ListGroupChats(ctx context.Context, owners []string, cursor string, limit int) ([]GroupChatRef, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	req := &gcReq.RequestGroupChatList{Cursor: cursor, Limit: limit}
	if len(owners) > 0 {
		req.OwnerFilter = &power.HashMap{"userid_list": owners}
	}
	type page struct {
		rows []GroupChatRef
		next string
	}
	p, err := onWork(ctx, c, c.contact, func(app *work.Work) (page, error) {
		res, err := app.ExternalContactGroupChat.List(ctx, req)
		if err := check("externalcontact/groupchat/list", err, res.ErrCode, res.ErrMsg); err != nil {
			return page{}, err
		}
		rows := make([]GroupChatRef, 0, len(res.GroupChatList))
		for _, g := range res.GroupChatList {
			if g != nil {
				rows = append(rows, GroupChatRef{ChatID: g.ChatID, Status: g.Status})
			}
		}
		return page{rows: rows, next: res.NextCursor}, nil
	})
	return p.rows, p.next, err
}

// GetGroupChat reads one group with member names (need_name=1).
func (c *Client) GetGroupChat(ctx context.Context, chatID string) (GroupChat, error) {
	return onWork(ctx, c, c.contact, func(app *work.Work) (GroupChat, error) {
		res, err := app.ExternalContactGroupChat.Get(ctx, chatID, 1)
		if err := check("externalcontact/groupchat/get", err, res.ErrCode, res.ErrMsg); err != nil {
			return GroupChat{}, err
		}
		g := res.GroupChat
		if g == nil {
			return GroupChat{}, nil
		}
		out := GroupChat{ChatID: g.ChatID, Name: g.Name, Owner: g.Owner, CreateTime: int64(g.CreateTime), Notice: g.Notice}
		for _, m := range g.MemberList {
			if m != nil {
				out.Members = append(out.Members, ChatMember{UserID: m.UserID, Type: m.Type, UnionID: m.UnionID,
					JoinTime: int64(m.JoinTime), JoinScene: m.JoinScene, State: m.State, Name: m.Name, Nickname: m.GroupNickname})
			}
		}
		for _, a := range g.AdminList {
			if a != nil {
				out.Admins = append(out.Admins, a.UserID)
			}
		}
		return out, nil
	})
}
