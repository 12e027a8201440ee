package services

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// ImportStats counts what Import read.
type ImportStats struct {
	Departments, Employees, Relations, Tags, Groups, Followers int
}

// Import reads the whole corp through the API into the mirror and the
// identity engine, with the same identities and moment keys as the events
// (so a later callback for the same happening records nothing twice). Demo
// mode runs it once after seeding the sandbox; the checkpointed sync of
// issue 7(b) is the production path for large corps.
func (p *EventProcessor) Import(ctx context.Context) (ImportStats, error) {
	var st ImportStats
	conn, err := p.conn.Current(ctx)
	if err != nil {
		return st, err
	}
	if conn.Client == nil {
		return st, conn.ClientErr
	}
	h := handling{p: p, conn: conn, corp: conn.Settings.CorpID, ref: "import"}
	steps := []func(context.Context, *ImportStats) error{h.importDepartments, h.importEmployees, h.importTags,
		h.importRelations, h.importGroups}
	if conn.Settings.OAConfigured() {
		steps = append(steps, h.importFollowers)
	}
	for _, step := range steps {
		if err := step(ctx, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (h handling) importDepartments(ctx context.Context, st *ImportStats) error {
	deps, err := h.conn.Client.ListDepartments(ctx, 0)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if err := h.p.mirror.SaveDepartment(ctx, h.corp, d, false); err != nil {
			return err
		}
	}
	st.Departments = len(deps)
	return nil
}

func (h handling) importEmployees(ctx context.Context, st *ImportStats) error {
	follow, err := h.conn.Client.FollowUsers(ctx)
	if err != nil {
		return err
	}
	contact := map[string]bool{}
	for _, u := range follow {
		contact[u] = true
	}
	cursor := ""
	for {
		rows, next, err := h.conn.Client.ListUserIDs(ctx, cursor, 10000)
		if err != nil {
			return err
		}
		for _, r := range rows {
			u, err := h.conn.Client.GetUser(ctx, r.UserID)
			if err != nil {
				return err
			}
			if err := h.p.mirror.SaveEmployee(ctx, h.corp, u, true); err != nil {
				return err
			}
			st.Employees++
		}
		if next == "" || next == cursor {
			break
		}
		cursor = next
	}
	_, err = h.p.db.ExecContext(ctx, `UPDATE wecom_employees SET customer_contact = userid = ANY ($2) WHERE corp_id = $1`,
		h.corp, pq.Array(nonNilStrings(follow)))
	return err
}

func (h handling) importTags(ctx context.Context, st *ImportStats) error {
	groups, err := h.conn.Client.CorpTags(ctx, nil, nil)
	if err != nil {
		return err
	}
	for _, g := range groups {
		st.Tags += len(g.Tags)
	}
	return h.p.mirror.SaveTagLibrary(ctx, h.corp, groups)
}

// importRelations walks batch/get_by_user for every member with customer
// contact, 100 members and 100 relations per page.
func (h handling) importRelations(ctx context.Context, st *ImportStats) error {
	users, err := h.conn.Client.FollowUsers(ctx)
	if err != nil {
		return err
	}
	for i := 0; i < len(users); i += 100 {
		batch := users[i:min(i+100, len(users))]
		cursor := ""
		for {
			rows, next, err := h.conn.Client.BatchGetByUser(ctx, batch, cursor, 100)
			if err != nil {
				return err
			}
			if err := h.importPage(ctx, rows); err != nil {
				return err
			}
			st.Relations += len(rows)
			if next == "" || next == cursor {
				break
			}
			cursor = next
		}
	}
	return nil
}

func (h handling) importPage(ctx context.Context, rows []wecom.ContactRelation) error {
	err := withTx(ctx, h.p.db, func(tx *sqlx.Tx) error {
		for _, r := range rows {
			if err := h.p.mirror.SaveRelation(ctx, tx, h.corp, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		f := r.Follow
		m := MomentInput{Kind: "wecom_added", Channel: f.State, EmployeeUserID: f.UserID, Title: "添加了企业微信",
			OccurredAt: time.Unix(f.CreateTime, 0), Detail: detail("state", f.State, "add_way", f.AddWay),
			DedupKey: contactAddedKey(h.corp, f.UserID, r.Contact.ExternalUserID, f.CreateTime)}
		o := Observation{Source: "sync", Ref: "import", OccurredAt: m.OccurredAt,
			Identities: h.contactIdentities(r.Contact, f.RemarkMobiles), Moments: []MomentInput{m}}
		if _, err := h.p.ids.Link(ctx, o); err != nil && ErrorCode(err) != EINVALID {
			return err
		}
	}
	return nil
}

func (h handling) importGroups(ctx context.Context, st *ImportStats) error {
	cursor := ""
	for {
		refs, next, err := h.conn.Client.ListGroupChats(ctx, nil, cursor, 1000)
		if err != nil {
			return err
		}
		for _, r := range refs {
			g, err := h.conn.Client.GetGroupChat(ctx, r.ChatID)
			if err != nil {
				return err
			}
			if err := h.p.mirror.SaveGroupChat(ctx, h.corp, g); err != nil {
				return err
			}
			st.Groups++
			ev := h
			for _, m := range customersOnly(g.Members) {
				ev.ev = callbackEvent{CreateTime: m.JoinTime, JoinScene: m.JoinScene}
				if err := ev.groupMoment(ctx, g, m, "group_joined"); err != nil {
					return err
				}
			}
		}
		if next == "" || next == cursor {
			return nil
		}
		cursor = next
	}
}

func (h handling) importFollowers(ctx context.Context, st *ImportStats) error {
	appID, next := h.conn.Settings.OAAppID, ""
	for {
		openids, nxt, _, err := h.conn.Client.OAFollowers(ctx, next)
		if err != nil {
			return err
		}
		for i := 0; i < len(openids); i += 100 {
			users, err := h.conn.Client.OAUsersBatch(ctx, openids[i:min(i+100, len(openids))])
			if err != nil {
				return err
			}
			for _, u := range users {
				if err := h.importFollower(ctx, appID, u); err != nil {
					return err
				}
				st.Followers++
			}
		}
		if nxt == "" || len(openids) == 0 {
			return nil
		}
		next = nxt
	}
}

func (h handling) importFollower(ctx context.Context, appID string, u wecom.OAUser) error {
	at := time.Unix(u.SubscribeTime, 0)
	scene := u.QRSceneStr
	if scene == "" && u.QRScene != 0 {
		scene = strconv.Itoa(u.QRScene)
	}
	if err := h.p.mirror.SaveFollower(ctx, h.corp, appID, u, scene, true, at); err != nil {
		return err
	}
	ids := []IdentityInput{{Kind: KindOAOpenID, Scope: appID, Key: u.OpenID}}
	if u.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: u.UnionID})
	}
	m := MomentInput{Kind: "oa_subscribed", Channel: scene, Title: "关注了公众号", OccurredAt: at,
		Detail:   detail("scene", scene, "subscribe_scene", u.SubscribeScene),
		DedupKey: subscribedKey(appID, u.OpenID, u.SubscribeTime)}
	_, err := h.p.ids.Link(ctx, Observation{Source: "sync", Ref: "import", OccurredAt: at, Identities: ids, Moments: []MomentInput{m}})
	if err != nil && ErrorCode(err) != EINVALID {
		return fmt.Errorf("import: follower: %w", err)
	}
	return nil
}
