package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// ContactWayCreator creates WeCom contact ways ("联系我" QR codes).
type ContactWayCreator interface {
	AddContactWay(ctx context.Context, in wecom.ContactWayInput) (wecom.ContactWay, error)
}

// ContactQR returns the contact QR code of an employee for a form's success
// page, creating the contact way once (state "form<id>", so the add event
// tells which form brought the customer) and reusing it afterwards.
// Errors: EUNAVAILABLE when WeCom refuses.
func (s *FormService) ContactQR(ctx context.Context, cw ContactWayCreator, f Form, employee string) (string, error) {
	var qr string
	err := s.db.GetContext(ctx, &qr, `SELECT qr_url FROM form_contact_qr WHERE form_id = $1 AND employee_userid = $2`,
		f.ID, employee)
	if err == nil {
		return qr, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("forms: contact qr: %w", err)
	}
	way, err := cw.AddContactWay(ctx, wecom.ContactWayInput{Users: []string{employee},
		State: "form" + strconv.FormatInt(f.ID, 10), Remark: "表单 " + strconv.FormatInt(f.ID, 10)})
	if err != nil {
		return "", &Error{Code: EUNAVAILABLE, Message: "暂时无法获取顾问的联系二维码"}
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO form_contact_qr (form_id, employee_userid, config_id, qr_url)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, f.ID, employee, way.ConfigID, way.QRCode)
	if err != nil {
		return "", fmt.Errorf("forms: save contact qr: %w", err)
	}
	return way.QRCode, nil
}
