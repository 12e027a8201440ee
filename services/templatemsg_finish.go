package services

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// templateJobFinished records a TEMPLATESENDJOBFINISH event: the result by
// msgid, and on the recipient row when the sender has recorded it (else
// the sender picks the result up when it does). done is false for any
// other payload. The event is handled before the generic decode, whose
// integer Status (WeCom's member status) cannot hold "success".
func (p *EventProcessor) templateJobFinished(ctx context.Context, payload []byte) (done bool, err error) {
	if !bytes.Contains(payload, []byte("TEMPLATESENDJOBFINISH")) {
		return false, nil
	}
	var ev struct {
		Event  string `xml:"Event"`
		MsgID  int64  `xml:"MsgID"`
		Status string `xml:"Status"`
	}
	if err := xml.Unmarshal(payload, &ev); err != nil || ev.Event != "TEMPLATESENDJOBFINISH" {
		return false, nil
	}
	if ev.MsgID == 0 || ev.Status == "" || len(ev.Status) > 100 {
		return true, permanent("events: TEMPLATESENDJOBFINISH without MsgID or Status")
	}
	return true, withTx(ctx, p.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO template_job_results (msgid, status) VALUES ($1, $2)
ON CONFLICT (msgid) DO UPDATE SET status = $2, received_at = now()`, ev.MsgID, ev.Status); err != nil {
			return fmt.Errorf("events: template result: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE template_recipients SET delivery = $2 WHERE msgid = $1`, ev.MsgID, ev.Status); err != nil {
			return fmt.Errorf("events: template recipient: %w", err)
		}
		return nil
	})
}
