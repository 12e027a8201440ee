package services

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// SidebarWeCom is what the sidebar asks WeCom; *wecom.Client has it. The
// handler passes the client of the current settings with each call.
type SidebarWeCom interface {
	GetExternalContact(ctx context.Context, externalUserID string) (wecom.ContactDetail, error)
	CorpTags(ctx context.Context, tagIDs, groupIDs []string) ([]wecom.TagGroup, error)
	MarkTag(ctx context.Context, userID, externalUserID string, add, remove []string) error
	GetGroupChat(ctx context.Context, chatID string) (wecom.GroupChat, error)
}

// ImportContact fetches a customer the app has not synced yet
// (externalcontact/get), stores it and its follow relations in the WeCom
// mirror and links its external_userid, unionid and remark phones
// (unverified) through the identity engine, so that the profile can be shown
// at once. WeCom errors are returned as *wecom.APIError (84061: not a
// customer of anyone visible to the app; 48002: no customer-contact
// permission).
func (s *SidebarService) ImportContact(ctx context.Context, v Viewer, externalUserID string, api SidebarWeCom) error {
	d, err := api.GetExternalContact(ctx, externalUserID)
	if err != nil {
		return err
	}
	if d.Contact.ExternalUserID == "" {
		d.Contact.ExternalUserID = externalUserID
	}
	if err := withTx(ctx, s.db, func(tx *sqlx.Tx) error { return s.mirrorContact(ctx, tx, v.CorpID, d) }); err != nil {
		return fmt.Errorf("sidebar: mirror contact: %w", err)
	}
	_, err = s.ids.Link(ctx, contactObservation(v.CorpID, d))
	return err
}

// contactObservation is what externalcontact/get tells about the person.
func contactObservation(corpID string, d wecom.ContactDetail) Observation {
	c := d.Contact
	o := Observation{Source: "wecom", Ref: "externalcontact/get", Identities: []IdentityInput{{
		Kind: KindExternalUserID, Scope: corpID, Key: c.ExternalUserID,
		Attrs: Attributes{Name: c.Name, Avatar: c.Avatar, Company: c.CorpName, Source: "wecom"}}}}
	if c.UnionID != "" {
		o.Identities = append(o.Identities, IdentityInput{Kind: KindUnionID, Key: c.UnionID})
	}
	seen := map[string]bool{}
	for _, f := range d.Follows {
		for _, m := range f.RemarkMobiles {
			if e164, err := NormalizePhone(m); err == nil && !seen[e164] && len(o.Identities) < maxObservationIdentities {
				seen[e164] = true
				o.Identities = append(o.Identities, IdentityInput{Kind: KindPhone, Key: e164})
			}
		}
		if f.CreateTime > 0 {
			// The dedup key is the relation, so the callback and sync
			// recording the same add never make a second moment.
			o.Moments = append(o.Moments, MomentInput{Identity: 0, Kind: "wecom_added", Channel: "wecom",
				OccurredAt: time.Unix(f.CreateTime, 0), EmployeeUserID: f.UserID,
				DedupKey: contactAddedKey(corpID, f.UserID, c.ExternalUserID, f.CreateTime)})
		}
	}
	return o
}

// mirrorContact upserts the customer and every follow relation WeCom
// returned, in the mirror tables the sync also writes.
func (s *SidebarService) mirrorContact(ctx context.Context, tx *sqlx.Tx, corpID string, d wecom.ContactDetail) error {
	c := d.Contact
	if _, err := tx.ExecContext(ctx, `INSERT INTO wecom_external_contacts
    (corp_id, external_userid, type, name, avatar, corp_name, corp_full_name, position, unionid, gender)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (corp_id, external_userid) DO UPDATE SET type = $3, name = $4, avatar = $5, corp_name = $6,
    corp_full_name = $7, position = $8, unionid = $9, gender = $10, synced_at = now(), updated_at = now()`,
		corpID, c.ExternalUserID, c.Type, c.Name, c.Avatar, c.CorpName, c.CorpFullName, c.Position, c.UnionID, c.Gender); err != nil {
		return err
	}
	for _, f := range d.Follows {
		if err := s.mirrorFollow(ctx, tx, corpID, c.ExternalUserID, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *SidebarService) mirrorFollow(ctx context.Context, tx *sqlx.Tx, corpID, ext string, f wecom.FollowInfo) error {
	var mobiles []byte
	if len(f.RemarkMobiles) > 0 {
		raw, _ := json.Marshal(f.RemarkMobiles)
		mobiles = s.pii.Seal("wecom_follows.remark_mobiles", raw)
	}
	var created *time.Time
	if f.CreateTime > 0 {
		t := time.Unix(f.CreateTime, 0)
		created = &t
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO wecom_follows (corp_id, userid, external_userid, remark, description,
    remark_corp_name, remark_mobiles, state, add_way, oper_userid, createtime, tag_ids)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (corp_id, userid, external_userid) DO UPDATE SET remark = $4, description = $5, remark_corp_name = $6,
    remark_mobiles = $7, state = $8, add_way = $9, oper_userid = $10, createtime = $11, tag_ids = $12,
    deleted_at = NULL, deleted_by_customer = false, deleted_by_staff = false, synced_at = now(), updated_at = now()`,
		corpID, f.UserID, ext, f.Remark, f.Description, f.RemarkCorpName, mobiles, f.State, f.AddWay, f.OperUserID,
		created, pq.Array(corpTagIDs(f)))
	return err
}

// corpTagIDs are the relation's corp tags (type 1); personal tags have no id.
func corpTagIDs(f wecom.FollowInfo) []string {
	ids := []string{}
	for _, t := range f.Tags {
		if t.Type == 1 && t.TagID != "" {
			ids = append(ids, t.TagID)
		}
	}
	if len(ids) == 0 && len(f.TagIDs) > 0 {
		ids = append(ids, f.TagIDs...)
	}
	return ids
}
