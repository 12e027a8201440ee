package services

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// scrub removes the personal data of a user (erase's second half); each
// statement names what it removes.
func (s *LifecycleService) scrub(ctx context.Context, tx *sqlx.Tx, userID int64, ids []int64) error {
	arr := pq.Array(ids)
	// The mirrors first: they are found through the keys about to go.
	steps := []struct {
		what string
		q    string
		args []any
	}{
		{"customer profiles", `UPDATE wecom_external_contacts c SET name = '', avatar = '', corp_name = '', corp_full_name = '',
    position = '', unionid = '', updated_at = now()
FROM identities i WHERE i.id = ANY ($1) AND i.kind = 'wecom_external_userid' AND c.corp_id = i.scope AND c.external_userid = i.key`, []any{arr}},
		{"customer remarks", `UPDATE wecom_follows f SET remark = '', description = '', remark_corp_name = '', remark_mobiles = NULL,
    updated_at = now()
FROM identities i WHERE i.id = ANY ($1) AND i.kind = 'wecom_external_userid' AND f.corp_id = i.scope AND f.external_userid = i.key`, []any{arr}},
		{"group member names", `UPDATE wecom_group_members g SET name = '', unionid = '', updated_at = now()
FROM identities i WHERE i.id = ANY ($1) AND i.kind = 'wecom_external_userid' AND g.corp_id = i.scope AND g.member_id = i.key`, []any{arr}},
		{"OA followers", `UPDATE oa_followers o SET unionid = '', updated_at = now()
FROM identities i WHERE i.id = ANY ($1) AND i.kind = 'oa_openid' AND o.app_id = i.scope AND o.openid = i.key`, []any{arr}},
		{"CRM records", `UPDATE crm_records SET name = '', company = '', external_userid = '' WHERE identity_id = ANY ($1)`, []any{arr}},
		{"form submissions", `UPDATE form_submissions SET phone = $2, phone_key = 'erased:' || id, answers = $3, ip = '',
    oa_openid = '', unionid = '', mp_openid = '', external_userid = '', utm = '{}'
WHERE identity_resolve(user_id) = $1`, []any{userID, s.pii.SealString("form_submissions.phone", ""),
			s.pii.SealString("form_submissions.answers", "{}")}},
		{"moments", `DELETE FROM moments WHERE identity_id = ANY ($1)`, []any{arr}},
		{"growth", `DELETE FROM member_growth_ledger WHERE identity_id = ANY ($1)`, []any{arr}},
		{"level", `DELETE FROM member_level_state WHERE user_id = $1`, []any{userID}},
		{"archive", `DELETE FROM marketing_user_archive WHERE user_id = $1`, []any{userID}},
		{"identities", `UPDATE identities SET key = 'erased:' || id, attrs = '{}', ev_ref = '', verified = false,
    phone = CASE WHEN kind = 'phone' THEN $2::bytea END
WHERE id = ANY ($1)`, []any{arr, s.pii.SealString("identities.phone", "")}},
	}
	for _, st := range steps {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			return fmt.Errorf("scrub %s: %w", st.what, err)
		}
	}
	return nil
}
