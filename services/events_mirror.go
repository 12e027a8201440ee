package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/pii"
	"github.com/marketing-assistant/assistant/services/wecom"
)

// WeComMirror writes the local mirror of the corp (migrations/00020). Every
// write is an upsert, so callbacks and sync can both feed it, in any order,
// any number of times.
type WeComMirror struct {
	db  *sqlx.DB
	box *pii.Box
}

// NewWeComMirror returns the mirror writer.
func NewWeComMirror(db *sqlx.DB, box *pii.Box) *WeComMirror { return &WeComMirror{db: db, box: box} }

func unixTime(s int64) *time.Time {
	if s <= 0 {
		return nil
	}
	t := time.Unix(s, 0)
	return &t
}

// SaveContactDetail upserts a customer and every relation in d.
func (m *WeComMirror) SaveContactDetail(ctx context.Context, corp string, d wecom.ContactDetail) error {
	return withTx(ctx, m.db, func(tx *sqlx.Tx) error {
		if err := m.saveContact(ctx, tx, corp, d.Contact); err != nil {
			return err
		}
		for _, f := range d.Follows {
			if err := m.saveFollow(ctx, tx, corp, d.Contact.ExternalUserID, f); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveRelation upserts one row of batch/get_by_user (for sync).
func (m *WeComMirror) SaveRelation(ctx context.Context, tx *sqlx.Tx, corp string, r wecom.ContactRelation) error {
	if err := m.saveContact(ctx, tx, corp, r.Contact); err != nil {
		return err
	}
	return m.saveFollow(ctx, tx, corp, r.Contact.ExternalUserID, r.Follow)
}

func (m *WeComMirror) saveContact(ctx context.Context, tx *sqlx.Tx, corp string, c wecom.ExternalContact) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO wecom_external_contacts (corp_id, external_userid, type, name, avatar, corp_name, corp_full_name,
		                                     position, unionid, gender)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (corp_id, external_userid) DO UPDATE SET type = excluded.type, name = excluded.name,
		    avatar = excluded.avatar, corp_name = excluded.corp_name, corp_full_name = excluded.corp_full_name,
		    position = excluded.position, unionid = coalesce(nullif(excluded.unionid, ''), wecom_external_contacts.unionid),
		    gender = excluded.gender, synced_at = now(), updated_at = now()`,
		corp, c.ExternalUserID, max(c.Type, 1), c.Name, c.Avatar, c.CorpName, c.CorpFullName, c.Position, c.UnionID, c.Gender)
	if err != nil {
		return fmt.Errorf("mirror: contact: %w", err)
	}
	return nil
}

func (m *WeComMirror) sealPhones(phones []string) []byte {
	if len(phones) == 0 {
		return nil
	}
	b, _ := json.Marshal(phones)
	return m.box.Seal("wecom_follows.remark_mobiles", b)
}

func (m *WeComMirror) saveFollow(ctx context.Context, tx *sqlx.Tx, corp, ext string, f wecom.FollowInfo) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO wecom_follows (corp_id, userid, external_userid, remark, description, remark_corp_name,
		                           remark_mobiles, state, add_way, oper_userid, createtime, tag_ids)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (corp_id, userid, external_userid) DO UPDATE SET remark = excluded.remark,
		    description = excluded.description, remark_corp_name = excluded.remark_corp_name,
		    remark_mobiles = excluded.remark_mobiles, state = excluded.state, add_way = excluded.add_way,
		    oper_userid = excluded.oper_userid, createtime = excluded.createtime, tag_ids = excluded.tag_ids,
		    synced_at = now(), updated_at = now()`,
		corp, f.UserID, ext, f.Remark, f.Description, f.RemarkCorpName, m.sealPhones(f.RemarkMobiles), f.State,
		f.AddWay, f.OperUserID, unixTime(f.CreateTime), pq.Array(nonNilStrings(tagIDsOf(f))))
	if err != nil {
		return fmt.Errorf("mirror: follow: %w", err)
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// FollowTagIDs returns the mirrored corp tags of a relation (none when unknown).
func (m *WeComMirror) FollowTagIDs(ctx context.Context, corp, userID, ext string) ([]string, error) {
	var tags pq.StringArray
	err := m.db.GetContext(ctx, &tags, `SELECT tag_ids FROM wecom_follows
		WHERE corp_id = $1 AND userid = $2 AND external_userid = $3`, corp, userID, ext)
	if err != nil && notFound(err, "") == err {
		return nil, fmt.Errorf("mirror: follow tags: %w", err)
	}
	return tags, nil
}

// MarkFollowAdded clears the deletion flags of a relation made (again) by an
// add event. Saving a contact does not: after del_follow_user WeCom still
// returns the one-way relation, which must stay flagged.
func (m *WeComMirror) MarkFollowAdded(ctx context.Context, corp, userID, ext string) error {
	_, err := m.db.ExecContext(ctx, `UPDATE wecom_follows SET deleted_by_staff = false, deleted_by_customer = false,
		deleted_at = NULL, updated_at = now() WHERE corp_id = $1 AND userid = $2 AND external_userid = $3`, corp, userID, ext)
	if err != nil {
		return fmt.Errorf("mirror: follow added: %w", err)
	}
	return nil
}

// MarkFollowDeleted records that a relation ended, by the staff member
// (del_external_contact) or by the customer (del_follow_user: the relation
// stays one-way, so the row is kept and only flagged).
func (m *WeComMirror) MarkFollowDeleted(ctx context.Context, corp, userID, ext string, byStaff bool, at time.Time) error {
	col := "deleted_by_customer"
	if byStaff {
		col = "deleted_by_staff"
	}
	_, err := m.db.ExecContext(ctx, `UPDATE wecom_follows SET `+col+` = true,
		deleted_at = coalesce(deleted_at, $4), updated_at = now()
		WHERE corp_id = $1 AND userid = $2 AND external_userid = $3`, corp, userID, ext, at)
	if err != nil {
		return fmt.Errorf("mirror: follow deleted: %w", err)
	}
	return nil
}

// ChatMembers returns the mirrored current members of a group.
func (m *WeComMirror) ChatMembers(ctx context.Context, corp, chatID string) (map[string]wecom.ChatMember, error) {
	var rows []struct {
		ID      string `db:"member_id"`
		Type    int    `db:"type"`
		UnionID string `db:"unionid"`
		Name    string `db:"name"`
		State   string `db:"state"`
	}
	err := m.db.SelectContext(ctx, &rows, `SELECT member_id, type, unionid, name, state FROM wecom_group_members
		WHERE corp_id = $1 AND chat_id = $2 AND left_at IS NULL`, corp, chatID)
	if err != nil {
		return nil, fmt.Errorf("mirror: chat members: %w", err)
	}
	out := make(map[string]wecom.ChatMember, len(rows))
	for _, r := range rows {
		out[r.ID] = wecom.ChatMember{UserID: r.ID, Type: r.Type, UnionID: r.UnionID, Name: r.Name, State: r.State}
	}
	return out, nil
}

// SaveGroupChat upserts a group and its members; members no longer listed
// are marked as having left.
func (m *WeComMirror) SaveGroupChat(ctx context.Context, corp string, g wecom.GroupChat) error {
	return withTx(ctx, m.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO wecom_group_chats (corp_id, chat_id, name, owner, notice, admins, createtime)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (corp_id, chat_id) DO UPDATE SET name = excluded.name, owner = excluded.owner,
			    notice = excluded.notice, admins = excluded.admins, createtime = excluded.createtime,
			    dismissed_at = NULL, synced_at = now(), updated_at = now()`,
			corp, g.ChatID, g.Name, g.Owner, g.Notice, pq.Array(nonNilStrings(g.Admins)), unixTime(g.CreateTime))
		if err != nil {
			return fmt.Errorf("mirror: group chat: %w", err)
		}
		ids := make([]string, 0, len(g.Members))
		for _, mb := range g.Members {
			ids = append(ids, mb.UserID)
			if err := saveMember(ctx, tx, corp, g.ChatID, mb); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE wecom_group_members SET left_at = now(), updated_at = now()
			WHERE corp_id = $1 AND chat_id = $2 AND left_at IS NULL AND NOT (member_id = ANY ($3))`,
			corp, g.ChatID, pq.Array(ids))
		if err != nil {
			return fmt.Errorf("mirror: group members left: %w", err)
		}
		return nil
	})
}

func saveMember(ctx context.Context, tx *sqlx.Tx, corp, chatID string, mb wecom.ChatMember) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO wecom_group_members (corp_id, chat_id, member_id, type, unionid, name, join_time, join_scene, state)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (corp_id, chat_id, member_id) DO UPDATE SET type = excluded.type, unionid = excluded.unionid,
		    name = excluded.name, join_time = excluded.join_time, join_scene = excluded.join_scene,
		    state = excluded.state, left_at = NULL, updated_at = now()`,
		corp, chatID, mb.UserID, mb.Type, mb.UnionID, firstNonEmpty(mb.Nickname, mb.Name), unixTime(mb.JoinTime),
		mb.JoinScene, mb.State)
	if err != nil {
		return fmt.Errorf("mirror: group member: %w", err)
	}
	return nil
}

// MarkChatDismissed records a dismissed group; its members all left.
func (m *WeComMirror) MarkChatDismissed(ctx context.Context, corp, chatID string, at time.Time) error {
	return withTx(ctx, m.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO wecom_group_chats (corp_id, chat_id, dismissed_at) VALUES ($1, $2, $3)
			ON CONFLICT (corp_id, chat_id) DO UPDATE SET dismissed_at = coalesce(wecom_group_chats.dismissed_at, $3),
			    updated_at = now()`, corp, chatID, at)
		if err != nil {
			return fmt.Errorf("mirror: dismiss chat: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE wecom_group_members SET left_at = $3, updated_at = now()
			WHERE corp_id = $1 AND chat_id = $2 AND left_at IS NULL`, corp, chatID, at)
		if err != nil {
			return fmt.Errorf("mirror: dismiss chat members: %w", err)
		}
		return nil
	})
}

// SaveTagLibrary upserts the whole corp tag library; tags and groups absent
// from it are marked deleted.
func (m *WeComMirror) SaveTagLibrary(ctx context.Context, corp string, groups []wecom.TagGroup) error {
	return withTx(ctx, m.db, func(tx *sqlx.Tx) error {
		var gids, tids []string
		for _, g := range groups {
			gids = append(gids, g.GroupID)
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO wecom_tag_groups (corp_id, group_id, name, sort_order) VALUES ($1, $2, $3, $4)
				ON CONFLICT (corp_id, group_id) DO UPDATE SET name = excluded.name, sort_order = excluded.sort_order,
				    deleted_at = NULL, synced_at = now()`, corp, g.GroupID, g.GroupName, g.Order); err != nil {
				return fmt.Errorf("mirror: tag group: %w", err)
			}
			for _, t := range g.Tags {
				tids = append(tids, t.ID)
				if _, err := tx.ExecContext(ctx, `
					INSERT INTO wecom_tags (corp_id, tag_id, group_id, name, sort_order) VALUES ($1, $2, $3, $4, $5)
					ON CONFLICT (corp_id, tag_id) DO UPDATE SET group_id = excluded.group_id, name = excluded.name,
					    sort_order = excluded.sort_order, deleted_at = NULL, synced_at = now()`,
					corp, t.ID, g.GroupID, t.Name, t.Order); err != nil {
					return fmt.Errorf("mirror: tag: %w", err)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wecom_tags SET deleted_at = now() WHERE corp_id = $1
			AND deleted_at IS NULL AND NOT (tag_id = ANY ($2))`, corp, pq.Array(nonNilStrings(tids))); err != nil {
			return fmt.Errorf("mirror: tags deleted: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE wecom_tag_groups SET deleted_at = now() WHERE corp_id = $1
			AND deleted_at IS NULL AND NOT (group_id = ANY ($2))`, corp, pq.Array(nonNilStrings(gids))); err != nil {
			return fmt.Errorf("mirror: tag groups deleted: %w", err)
		}
		return nil
	})
}

// MarkTagDeleted marks one tag, or a group and its tags, deleted.
func (m *WeComMirror) MarkTagDeleted(ctx context.Context, corp, id string, group bool, at time.Time) error {
	q := `UPDATE wecom_tags SET deleted_at = coalesce(deleted_at, $3) WHERE corp_id = $1 AND tag_id = $2`
	if group {
		q = `WITH g AS (UPDATE wecom_tag_groups SET deleted_at = coalesce(deleted_at, $3) WHERE corp_id = $1 AND group_id = $2)
			UPDATE wecom_tags SET deleted_at = coalesce(deleted_at, $3) WHERE corp_id = $1 AND group_id = $2`
	}
	if _, err := m.db.ExecContext(ctx, q, corp, id, at); err != nil {
		return fmt.Errorf("mirror: tag deleted: %w", err)
	}
	return nil
}

// SaveEmployee upserts a member. full is false when only the callback's own
// fields are known: then empty fields do not overwrite mirrored ones.
func (m *WeComMirror) SaveEmployee(ctx context.Context, corp string, u wecom.User, full bool) error {
	deps := make([]int64, len(u.Departments))
	for i, d := range u.Departments {
		deps[i] = int64(d)
	}
	_, err := m.db.ExecContext(ctx, `
		INSERT INTO wecom_employees (corp_id, userid, name, departments, main_department, position, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (corp_id, userid) DO UPDATE SET
		    name = CASE WHEN $8 OR excluded.name <> '' THEN excluded.name ELSE wecom_employees.name END,
		    departments = CASE WHEN $8 OR cardinality(excluded.departments) > 0 THEN excluded.departments ELSE wecom_employees.departments END,
		    main_department = CASE WHEN $8 OR excluded.main_department <> 0 THEN excluded.main_department ELSE wecom_employees.main_department END,
		    position = CASE WHEN $8 OR excluded.position <> '' THEN excluded.position ELSE wecom_employees.position END,
		    status = CASE WHEN $8 OR $9 THEN excluded.status ELSE wecom_employees.status END,
		    deleted_at = NULL, synced_at = now(), updated_at = now()`,
		corp, u.UserID, u.Name, pq.Array(deps), u.MainDepartment, u.Position, max(u.Status, 1), full, u.Status != 0)
	if err != nil {
		return fmt.Errorf("mirror: employee: %w", err)
	}
	return nil
}

// RenameEmployee follows a changed userid (update_user with NewUserID).
func (m *WeComMirror) RenameEmployee(ctx context.Context, corp, from, to string) error {
	_, err := m.db.ExecContext(ctx, `UPDATE wecom_employees SET userid = $3, updated_at = now()
		WHERE corp_id = $1 AND userid = $2 AND NOT EXISTS (SELECT 1 FROM wecom_employees WHERE corp_id = $1 AND userid = $3)`,
		corp, from, to)
	if err != nil {
		return fmt.Errorf("mirror: rename employee: %w", err)
	}
	return nil
}

// MarkEmployeeDeleted records a member who left the corp (status 5).
func (m *WeComMirror) MarkEmployeeDeleted(ctx context.Context, corp, userID string, at time.Time) error {
	_, err := m.db.ExecContext(ctx, `
		INSERT INTO wecom_employees (corp_id, userid, status, deleted_at) VALUES ($1, $2, 5, $3)
		ON CONFLICT (corp_id, userid) DO UPDATE SET status = 5, deleted_at = coalesce(wecom_employees.deleted_at, $3),
		    updated_at = now()`, corp, userID, at)
	if err != nil {
		return fmt.Errorf("mirror: employee deleted: %w", err)
	}
	return nil
}

// SaveDepartment upserts a department; partial (update_party) keeps
// mirrored values for fields the event left empty.
func (m *WeComMirror) SaveDepartment(ctx context.Context, corp string, d wecom.Department, partial bool) error {
	_, err := m.db.ExecContext(ctx, `
		INSERT INTO wecom_departments (corp_id, id, name, parent_id, sort_order, leaders) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (corp_id, id) DO UPDATE SET
		    name = CASE WHEN NOT $7 OR excluded.name <> '' THEN excluded.name ELSE wecom_departments.name END,
		    parent_id = CASE WHEN NOT $7 OR excluded.parent_id <> 0 THEN excluded.parent_id ELSE wecom_departments.parent_id END,
		    sort_order = CASE WHEN NOT $7 THEN excluded.sort_order ELSE wecom_departments.sort_order END,
		    leaders = CASE WHEN NOT $7 THEN excluded.leaders ELSE wecom_departments.leaders END,
		    deleted_at = NULL, synced_at = now()`,
		corp, d.ID, d.Name, d.ParentID, d.Order, pq.Array(nonNilStrings(d.Leaders)), partial)
	if err != nil {
		return fmt.Errorf("mirror: department: %w", err)
	}
	return nil
}

// MarkDepartmentDeleted records a deleted department.
func (m *WeComMirror) MarkDepartmentDeleted(ctx context.Context, corp string, id int, at time.Time) error {
	_, err := m.db.ExecContext(ctx, `UPDATE wecom_departments SET deleted_at = coalesce(deleted_at, $3)
		WHERE corp_id = $1 AND id = $2`, corp, id, at)
	if err != nil {
		return fmt.Errorf("mirror: department deleted: %w", err)
	}
	return nil
}

// SaveFollower upserts an Official Account follower.
func (m *WeComMirror) SaveFollower(ctx context.Context, corp, appID string, u wecom.OAUser, scene string, subscribed bool, at time.Time) error {
	_, err := m.db.ExecContext(ctx, `
		INSERT INTO oa_followers (corp_id, app_id, openid, unionid, subscribed, subscribe_time, subscribe_scene, qr_scene,
		                          unsubscribed_at)
		VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 THEN coalesce($6::timestamptz, $9::timestamptz) END, $7, $8,
		        CASE WHEN NOT $5 THEN $9::timestamptz END)
		ON CONFLICT (corp_id, app_id, openid) DO UPDATE SET
		    unionid = coalesce(nullif(excluded.unionid, ''), oa_followers.unionid),
		    subscribed = excluded.subscribed,
		    subscribe_time = coalesce(excluded.subscribe_time, oa_followers.subscribe_time),
		    subscribe_scene = coalesce(nullif(excluded.subscribe_scene, ''), oa_followers.subscribe_scene),
		    qr_scene = coalesce(nullif(excluded.qr_scene, ''), oa_followers.qr_scene),
		    unsubscribed_at = CASE WHEN excluded.subscribed THEN NULL ELSE excluded.unsubscribed_at END,
		    synced_at = now(), updated_at = now()`,
		corp, appID, u.OpenID, u.UnionID, subscribed, unixTime(u.SubscribeTime), u.SubscribeScene,
		firstNonEmpty(scene, u.QRSceneStr), at)
	if err != nil {
		return fmt.Errorf("mirror: follower: %w", err)
	}
	return nil
}

// shortHash is 16 hex digits of SHA-256, for bounded keys.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
