package handlers

import (
	"testing"

	"github.com/marketing-assistant/assistant/services"
)

// FuzzCRMBatchDecode feeds arbitrary bodies to the CRM API's decoding: it must
// never panic, and every refusal must be an EINVALID the API can report per
// record.
func FuzzCRMBatchDecode(f *testing.F) {
	for _, s := range []string{
		`{"records":[{"kind":"crm_lead","id":"L1","phone":"13912345678"}]}`,
		`[{"kind":"member","id":"M1","source":"shop","member_level":"gold"}]`,
		`{"records":[{"kind":"crm_lead","id":"L1","extra":1}]}`,
		`{"records":[{"kind":"nope"}, 5, "x", null]}`,
		`{"records":null}`, `[]`, `{`, `null`, ``, `{"records":[{"kind":"crm_contact","id":"C","occurred_at":"bad"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, err := decodeBatch(body)
		if err != nil {
			if services.ErrorCode(err) != services.EINVALID {
				t.Fatalf("batch error code %s", services.ErrorCode(err))
			}
			return
		}
		for _, raw := range raws {
			if _, err := observationOf(raw); err != nil && services.ErrorCode(err) != services.EINVALID {
				t.Fatalf("record error code %s", services.ErrorCode(err))
			}
		}
	})
}
