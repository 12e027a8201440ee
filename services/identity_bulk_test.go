package services

import (
	"testing"

	"github.com/jmoiron/sqlx"
)

// bulkIdentities loads n identities in pairs (a CRM lead and the contact
// linked to it), n/2 users, with generate_series: the shape the audit and
// link benchmarks start from.
func bulkIdentities(t testing.TB, db *sqlx.DB, n int) {
	t.Helper()
	db.MustExec(`INSERT INTO marketing_users (id, n_identities) SELECT g, 2 FROM generate_series(1, $1::int / 2) g`, n)
	db.MustExec(`INSERT INTO identities (id, user_id, kind, key, linked_to, seen_with, first_seen, last_seen)
SELECT g, (g + 1) / 2, CASE WHEN g % 2 = 1 THEN 'crm_lead' ELSE 'crm_contact' END, 'bulk' || g,
       CASE WHEN g % 2 = 0 THEN g - 1 END, CASE WHEN g % 2 = 0 THEN g - 1 END, now(), now()
FROM generate_series(1, $1::int) g`, n)
	db.MustExec(`SELECT setval('marketing_users_id_seq', $1::int / 2), setval('identities_id_seq', $1::int)`, n)
	db.MustExec(`VACUUM ANALYZE identities`)
	db.MustExec(`VACUUM ANALYZE marketing_users`)
}
