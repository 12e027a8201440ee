package services

import (
	"context"
	"fmt"
	"strconv"
)

// revealQuery guards a reveal: the viewer must see the customer, their role
// must be allowed to reveal, and the phone must be one of the customer's.
const revealQuery = accessCTE + `SELECT a.user_id, a.role, a.allowed,
  EXISTS (SELECT 1 FROM sidebar_settings WHERE a.role = ANY (phone_reveal_roles)) AS can_reveal,
  i.phone
FROM a LEFT JOIN identities i ON i.id = $4 AND i.user_id = a.user_id AND i.kind = 'phone'`

type revealRow struct {
	access
	CanReveal bool   `db:"can_reveal"`
	Phone     []byte `db:"phone"`
}

// RevealPhone returns a phone number of the customer in full and audits who
// saw it. Nothing is revealed when the audit record cannot be written.
// Errors: ENOTFOUND (customer or phone), EFORBIDDEN (role).
func (s *SidebarService) RevealPhone(ctx context.Context, v Viewer, ext string, identityID int64, ip string) (string, error) {
	var r revealRow
	if err := s.db.GetContext(ctx, &r, revealQuery, v.CorpID, v.UserID, ext, identityID); err != nil {
		return "", visibleOr(err)
	}
	switch {
	case !r.Allowed:
		return "", errNotVisible()
	case !r.CanReveal:
		return "", Errorf(EFORBIDDEN, "你的角色不能查看完整手机号，请联系管理员")
	case r.Phone == nil:
		return "", Errorf(ENOTFOUND, "手机号不存在")
	}
	phone, err := s.pii.OpenString("identities.phone", r.Phone)
	if err != nil {
		return "", fmt.Errorf("sidebar: open phone %d: %w", identityID, err)
	}
	err = s.audit.Record(ctx, AuditEntry{ActorKind: "wecom", ActorID: v.UserID, Action: "phone_revealed",
		TargetKind: "identity", TargetID: strconv.FormatInt(identityID, 10), IP: ip,
		Detail: map[string]any{"user_id": r.UserID, "external_userid": ext, "role": r.Role}})
	if err != nil {
		return "", err
	}
	return phone, nil
}
