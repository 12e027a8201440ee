package wecom

import (
	"context"

	"github.com/ArtisanCloud/PowerWeChat/v3/src/work"
)

// OAuthIdentity is who opened a page through WeCom OAuth: a member (UserID)
// or, for non-members, a per-corp OpenID and possibly an ExternalUserID.
type OAuthIdentity struct {
	UserID         string
	OpenID         string
	ExternalUserID string
	UserTicket     string // only for scope snsapi_privateinfo; valid 1800 s
}

// User is a WeCom member (通讯录成员). Self-built apps created after
// 2022-06-20 receive no sensitive fields (mobile, email, avatar) here.
type User struct {
	UserID         string
	Name           string
	Departments    []int
	MainDepartment int
	Position       string
	Mobile         string
	Email          string
	Avatar         string
	Status         int // 1 active, 2 disabled, 4 not activated, 5 left
}

// DepartmentUser is one row of user/list_id: a user in one department.
type DepartmentUser struct {
	UserID       string
	DepartmentID int
}

// Department is one node of the WeCom department tree; the root id is 1.
type Department struct {
	ID       int
	Name     string
	ParentID int
	Order    int
	Leaders  []string
}

// UserIDFromOAuthCode exchanges the code of a WeCom OAuth redirect
// (auth/getuserinfo). Codes are single use and valid 5 minutes; a reused or
// stale code gives *APIError 40029.
func (c *Client) UserIDFromOAuthCode(ctx context.Context, code string) (OAuthIdentity, error) {
	return onWork(ctx, c, c.agent, func(app *work.Work) (OAuthIdentity, error) {
		res, err := app.Auth.GetUserInfo(ctx, code)
		if err := check("auth/getuserinfo", err, res.ErrCode, res.ErrMsg); err != nil {
			return OAuthIdentity{}, err
		}
		return OAuthIdentity{UserID: res.UserID, OpenID: res.OpenID, ExternalUserID: res.ExternalUserID, UserTicket: res.UserTicket}, nil
	})
}

// GetUser reads one member (user/get).
func (c *Client) GetUser(ctx context.Context, userID string) (User, error) {
	return onWork(ctx, c, c.agent, func(app *work.Work) (User, error) {
		res, err := app.User.Get(ctx, userID)
		if err := check("user/get", err, res.ErrCode, res.ErrMsg); err != nil {
			return User{}, err
		}
		u := User{}
		if d := res.UserDetail; d != nil {
			u = User{UserID: d.UserID, Name: d.Name, Departments: d.Department, MainDepartment: d.MainDepartment,
				Position: d.Position, Mobile: d.Mobile, Email: d.Email, Avatar: d.Avatar, Status: d.Status}
		}
		return u, nil
	})
}

// ListUserIDs returns one page of user/list_id (limit 1–10000, 0 means
// 10000) and the cursor of the next page, "" after the last. WeCom allows
// this API only with the 通讯录同步 secret (Config.ContactsSyncSecret);
// otherwise it answers 48002.
func (c *Client) ListUserIDs(ctx context.Context, cursor string, limit int) ([]DepartmentUser, string, error) {
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	type page struct {
		rows []DepartmentUser
		next string
	}
	p, err := onWork(ctx, c, c.sync, func(app *work.Work) (page, error) {
		res, err := app.User.ListID(ctx, cursor, limit)
		if err := check("user/list_id", err, res.ErrCode, res.ErrMsg); err != nil {
			return page{}, err
		}
		rows := make([]DepartmentUser, 0, len(res.DeptUser))
		for _, du := range res.DeptUser {
			if du != nil {
				rows = append(rows, DepartmentUser{UserID: du.UserID, DepartmentID: du.Department})
			}
		}
		return page{rows: rows, next: res.NextCursor}, nil
	})
	return p.rows, p.next, err
}

// ListDepartments returns the department tree visible to the app (id 0) or
// the subtree under id.
func (c *Client) ListDepartments(ctx context.Context, id int) ([]Department, error) {
	return onWork(ctx, c, c.agent, func(app *work.Work) ([]Department, error) {
		res, err := app.Department.List(ctx, id)
		if err := check("department/list", err, res.ErrCode, res.ErrMsg); err != nil {
			return nil, err
		}
		out := make([]Department, 0, len(res.Departments))
		for _, d := range res.Departments {
			if d != nil {
				out = append(out, Department{ID: d.ID, Name: d.Name, ParentID: d.ParentID, Order: d.Order, Leaders: d.DepartmentLeaders})
			}
		}
		return out, nil
	})
}
