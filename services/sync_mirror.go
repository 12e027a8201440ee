package services

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// mirrorRelations upserts a page's customers and relations. Rows are only
// rewritten when a field differs, so a re-run writes nothing; it returns how
// many rows changed.
func (s *SyncService) mirrorRelations(ctx context.Context, tx *sqlx.Tx, corp string, rows []wecom.ContactRelation) (int64, error) {
	n1, err := upsertContacts(ctx, tx, corp, rows)
	if err != nil {
		return 0, err
	}
	n2, err := s.upsertFollows(ctx, tx, corp, rows)
	return n1 + n2, err
}

func upsertContacts(ctx context.Context, tx *sqlx.Tx, corp string, rows []wecom.ContactRelation) (int64, error) {
	seen := map[string]bool{}
	var id, name, avatar, cname, cfull, pos, union []string
	var typ, gender []int64
	for _, r := range rows {
		c := r.Contact
		if seen[c.ExternalUserID] || c.ExternalUserID == "" {
			continue
		}
		seen[c.ExternalUserID] = true
		id, name, avatar = append(id, c.ExternalUserID), append(name, c.Name), append(avatar, c.Avatar)
		cname, cfull, pos = append(cname, c.CorpName), append(cfull, c.CorpFullName), append(pos, c.Position)
		union, typ, gender = append(union, c.UnionID), append(typ, int64(c.Type)), append(gender, int64(c.Gender))
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO wecom_external_contacts AS c (corp_id, external_userid, type, name, avatar,
    corp_name, corp_full_name, position, unionid, gender)
SELECT $1, x.* FROM unnest($2::text[], $3::smallint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::smallint[]) AS x
ON CONFLICT (corp_id, external_userid) DO UPDATE SET type = EXCLUDED.type, name = EXCLUDED.name,
    avatar = EXCLUDED.avatar, corp_name = EXCLUDED.corp_name, corp_full_name = EXCLUDED.corp_full_name,
    position = EXCLUDED.position, unionid = coalesce(nullif(EXCLUDED.unionid, ''), c.unionid),
    gender = EXCLUDED.gender, synced_at = now(), updated_at = now()
WHERE (c.type, c.name, c.avatar, c.corp_name, c.corp_full_name, c.position, c.gender)
      IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.name, EXCLUDED.avatar, EXCLUDED.corp_name, EXCLUDED.corp_full_name,
                        EXCLUDED.position, EXCLUDED.gender)
   OR (EXCLUDED.unionid <> '' AND EXCLUDED.unionid <> c.unionid)`,
		corp, pq.Array(id), pq.Array(typ), pq.Array(name), pq.Array(avatar), pq.Array(cname), pq.Array(cfull),
		pq.Array(pos), pq.Array(union), pq.Array(gender))
	if err != nil {
		return 0, fmt.Errorf("sync: upsert contacts: %w", err)
	}
	return res.RowsAffected()
}

// followRows are relations as parallel arrays for unnest.
type followRows struct {
	user, ext, remark, desc, rcorp, state, oper, tags []string
	addWay                                            []int64
	created                                           []*time.Time
	mobiles                                           pq.ByteaArray
}

func (s *SyncService) upsertFollows(ctx context.Context, tx *sqlx.Tx, corp string, rows []wecom.ContactRelation) (int64, error) {
	old, err := s.oldMobiles(ctx, tx, corp, rows)
	if err != nil {
		return 0, err
	}
	var w followRows
	for _, r := range rows {
		f := r.Follow
		w.user, w.ext, w.remark = append(w.user, f.UserID), append(w.ext, r.Contact.ExternalUserID), append(w.remark, f.Remark)
		w.desc, w.rcorp, w.state = append(w.desc, f.Description), append(w.rcorp, f.RemarkCorpName), append(w.state, f.State)
		w.oper, w.addWay = append(w.oper, f.OperUserID), append(w.addWay, int64(f.AddWay))
		tags, _ := json.Marshal(nonNilStrings(tagIDsOf(f)))
		w.tags = append(w.tags, string(tags))
		var ct *time.Time
		if f.CreateTime > 0 {
			t := time.Unix(f.CreateTime, 0)
			ct = &t
		}
		w.created = append(w.created, ct)
		w.mobiles = append(w.mobiles, s.sealMobiles(old[f.UserID+"\x1f"+r.Contact.ExternalUserID], f.RemarkMobiles))
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO wecom_follows AS f (corp_id, userid, external_userid, remark, description,
    remark_corp_name, state, oper_userid, add_way, tag_ids, createtime, remark_mobiles)
SELECT DISTINCT ON (x.u, x.e) $1, x.u, x.e, x.r, x.d, x.rc, x.st, x.op, x.aw,
       ARRAY(SELECT jsonb_array_elements_text(x.tg::jsonb)), x.ct, x.mb
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[],
            $11::timestamptz[], $12::bytea[]) AS x(u, e, r, d, rc, st, op, aw, tg, ct, mb)
ON CONFLICT (corp_id, userid, external_userid) DO UPDATE SET remark = EXCLUDED.remark,
    description = EXCLUDED.description, remark_corp_name = EXCLUDED.remark_corp_name, state = EXCLUDED.state,
    oper_userid = EXCLUDED.oper_userid, add_way = EXCLUDED.add_way, tag_ids = EXCLUDED.tag_ids,
    createtime = EXCLUDED.createtime, remark_mobiles = EXCLUDED.remark_mobiles,
    deleted_by_staff = false, deleted_at = CASE WHEN f.deleted_by_customer THEN f.deleted_at END,
    synced_at = now(), updated_at = now()
WHERE (f.remark, f.description, f.remark_corp_name, f.state, f.oper_userid, f.add_way, f.tag_ids, f.createtime,
       f.remark_mobiles, f.deleted_by_staff)
      IS DISTINCT FROM (EXCLUDED.remark, EXCLUDED.description, EXCLUDED.remark_corp_name, EXCLUDED.state,
       EXCLUDED.oper_userid, EXCLUDED.add_way, EXCLUDED.tag_ids, EXCLUDED.createtime, EXCLUDED.remark_mobiles, false)
   OR (f.deleted_at IS NOT NULL AND NOT f.deleted_by_customer)`,
		corp, pq.Array(w.user), pq.Array(w.ext), pq.Array(w.remark), pq.Array(w.desc), pq.Array(w.rcorp),
		pq.Array(w.state), pq.Array(w.oper), pq.Array(w.addWay), pq.Array(w.tags), pq.Array(w.created), w.mobiles)
	if err != nil {
		return 0, fmt.Errorf("sync: upsert follows: %w", err)
	}
	return res.RowsAffected()
}

// oldMobiles reads the sealed remark phones already stored for the page's
// relations that carry phones: sealing is randomised, so an unchanged list
// must keep its old ciphertext for the upsert to see no change.
func (s *SyncService) oldMobiles(ctx context.Context, tx *sqlx.Tx, corp string, rows []wecom.ContactRelation) (map[string][]byte, error) {
	var users, exts []string
	for _, r := range rows {
		if len(r.Follow.RemarkMobiles) > 0 {
			users, exts = append(users, r.Follow.UserID), append(exts, r.Contact.ExternalUserID)
		}
	}
	out := map[string][]byte{}
	if len(users) == 0 {
		return out, nil
	}
	var got []struct {
		U string `db:"userid"`
		E string `db:"external_userid"`
		M []byte `db:"remark_mobiles"`
	}
	err := tx.SelectContext(ctx, &got, `SELECT f.userid, f.external_userid, f.remark_mobiles FROM wecom_follows f
JOIN unnest($2::text[], $3::text[]) AS x(u, e) ON f.userid = x.u AND f.external_userid = x.e
WHERE f.corp_id = $1 AND f.remark_mobiles IS NOT NULL`, corp, pq.Array(users), pq.Array(exts))
	if err != nil {
		return nil, fmt.Errorf("sync: read remark phones: %w", err)
	}
	for _, g := range got {
		out[g.U+"\x1f"+g.E] = g.M
	}
	return out, nil
}

// sealMobiles returns the sealed JSON list, or old when it holds the same list.
func (s *SyncService) sealMobiles(old []byte, mobiles []string) []byte {
	if len(mobiles) == 0 {
		return nil
	}
	plain, _ := json.Marshal(mobiles)
	if old != nil {
		if prev, err := s.box.Open("wecom_follows.remark_mobiles", old); err == nil && slices.Equal(prev, plain) {
			return old
		}
	}
	return s.box.Seal("wecom_follows.remark_mobiles", plain)
}
