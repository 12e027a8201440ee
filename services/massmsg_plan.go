package services

import (
	"context"
	"fmt"
	"sort"

	"github.com/jmoiron/sqlx"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// massAudience is one customer of a plan: the external_userid, the one
// employee chosen to send it (so the customer gets it once), the marketing
// user, and whether the weekly limit leaves the customer out.
type massAudience struct {
	ExternalUserID string `db:"external_userid"`
	UserID         string `db:"userid"`
	MarketingUser  int64  `db:"user_id"`
	Excluded       bool   `db:"excluded"`
}

// audienceSQL lists the segment's WeCom customers of the corp. Each
// customer is sent by the employee who added them most recently (ties: the
// smallest userid): deterministic, and the relation most likely alive.
// Employees known to have left or been disabled are skipped.
const audienceSQL = `WITH seg AS (SELECT u.id FROM marketing_users u WHERE %s),
cust AS (
    SELECT DISTINCT ON (f.external_userid) f.external_userid, f.userid, i.user_id
    FROM seg JOIN identities i ON i.user_id = seg.id AND i.kind = 'wecom_external_userid'
    JOIN wecom_follows f ON f.corp_id = i.scope AND f.external_userid = i.key AND f.deleted_at IS NULL
    WHERE i.scope = %s
      AND NOT EXISTS (SELECT 1 FROM wecom_employees e WHERE e.corp_id = f.corp_id AND e.userid = f.userid
                      AND (e.deleted_at IS NOT NULL OR e.status <> 1))
    ORDER BY f.external_userid, f.createtime DESC NULLS LAST, f.userid)
SELECT c.external_userid, c.userid, c.user_id,
    EXISTS (SELECT 1 FROM mass_message_recipients r
            WHERE r.corp_id = %s AND r.external_userid = c.external_userid AND r.status IN (0, 1)
              AND r.planned_at > %s AND r.message_id <> %s) AS excluded
FROM cust c ORDER BY c.userid, c.external_userid`

// audience computes the plan of message m (on q: the pool or the send's
// transaction).
func (s *MassMessageService) audience(ctx context.Context, q sqlx.QueryerContext, m MassMessage) ([]massAudience, error) {
	if m.SegmentID == nil {
		return nil, Invalid("人群已被删除", map[string]string{"segment": "人群已被删除，请新建群发"})
	}
	seg, err := s.segments.Get(ctx, *m.SegmentID)
	if err != nil {
		return nil, err
	}
	sq := compileSegment(seg.Filter, s.now())
	corp := sq.arg(m.CorpID)
	weekAgo, self := sq.arg(s.now().Add(-MassWeek)), sq.arg(m.ID)
	query := fmt.Sprintf(audienceSQL, sq.where(), corp, corp, weekAgo, self)
	var out []massAudience
	if err := sqlx.SelectContext(ctx, q, &out, query, sq.args...); err != nil {
		return nil, fmt.Errorf("massmsg: audience: %w", err)
	}
	return out, nil
}

// MassPlanRow is one employee's share: their customers in batches of ≤10,000.
type MassPlanRow struct {
	UserID    string
	Name      string
	Customers int
	Batches   int
}

// MassPlan is what sending would do now.
type MassPlan struct {
	SegmentUsers int // marketing users in the segment
	Customers    int // their WeCom customers (one per external_userid)
	Excluded     int // left out: a mass message within MassWeek
	Recipients   int // Customers - Excluded
	Employees    []MassPlanRow
}

func planOf(rows []massAudience) MassPlan {
	p := MassPlan{Customers: len(rows)}
	per := map[string]int{}
	for _, r := range rows {
		if r.Excluded {
			p.Excluded++
			continue
		}
		per[r.UserID]++
	}
	p.Recipients = p.Customers - p.Excluded
	for u, n := range per {
		p.Employees = append(p.Employees, MassPlanRow{UserID: u, Customers: n,
			Batches: (n + wecom.MaxMassRecipients - 1) / wecom.MaxMassRecipients})
	}
	sort.Slice(p.Employees, func(i, j int) bool {
		a, b := p.Employees[i], p.Employees[j]
		return a.Customers > b.Customers || a.Customers == b.Customers && a.UserID < b.UserID
	})
	return p
}

// Preview returns what sending draft id would do now. Admins and managers.
// Errors: EFORBIDDEN, ENOTFOUND, EINVALID (segment deleted).
func (s *MassMessageService) Preview(ctx context.Context, v Operator, id int64) (MassPlan, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return MassPlan{}, err
	}
	m, err := s.find(ctx, id)
	if err != nil {
		return MassPlan{}, err
	}
	rows, err := s.audience(ctx, s.db, m)
	if err != nil {
		return MassPlan{}, err
	}
	p := planOf(rows)
	if p.SegmentUsers, err = s.segments.countByID(ctx, *m.SegmentID); err != nil {
		return MassPlan{}, err
	}
	return p, s.nameEmployees(ctx, m.CorpID, p.Employees)
}

// nameEmployees fills in the employees' names from the directory mirror.
func (s *MassMessageService) nameEmployees(ctx context.Context, corp string, rows []MassPlanRow) error {
	names, err := employeeNames(ctx, s.db, corp)
	for i := range rows {
		rows[i].Name = names[rows[i].UserID]
	}
	return err
}

func employeeNames(ctx context.Context, db *sqlx.DB, corp string) (map[string]string, error) {
	var rows []struct {
		UserID string `db:"userid"`
		Name   string `db:"name"`
	}
	if err := db.SelectContext(ctx, &rows, `SELECT userid, name FROM wecom_employees WHERE corp_id = $1`, corp); err != nil {
		return nil, fmt.Errorf("massmsg: employee names: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.UserID] = r.Name
	}
	return out, nil
}
