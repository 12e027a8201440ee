package services

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// DashboardService computes the console's start-page figures. They are
// counts only (no person is named), so managers see them too.
type DashboardService struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewDashboardService returns the service.
func NewDashboardService(db *sqlx.DB) *DashboardService {
	return &DashboardService{db: db, now: time.Now}
}

// DayCount is a count for one calendar day (server time zone).
type DayCount struct {
	Day   time.Time `db:"day"`
	Count int       `db:"n"`
}

// ChannelCount is a count for one channel.
type ChannelCount struct {
	Channel string `db:"channel"`
	Count   int    `db:"n"`
}

// Dashboard is the start page's figures.
type Dashboard struct {
	LiveUsers     int `db:"live_users"`
	NewUsers7d    int `db:"new_users_7d"`
	Merges7d      int `db:"merges_7d"`
	Splits7d      int `db:"splits_7d"`
	OpenConflicts int `db:"open_conflicts"`
	Archived      int `db:"archived"`
	Erasures      int `db:"erasures"`
	// Registrations are form submissions per day over the last 14 days
	// (every day present), ByChannel over the last 30 days.
	Registrations []DayCount
	ByChannel     []ChannelCount
	NewUsersByDay []DayCount
	InboxPending  int           `db:"inbox_pending"`
	InboxLag      time.Duration `db:"-"`
	DeadLetters   int           `db:"dead_letters"`
	LastSync      *time.Time    `db:"last_sync"`
	oldestPending *time.Time
}

// Dashboard returns the figures. Errors: EFORBIDDEN for staff.
func (s *DashboardService) Dashboard(ctx context.Context, v Operator) (Dashboard, error) {
	if err := v.requireRole(RoleAdmin, RoleManager); err != nil {
		return Dashboard{}, err
	}
	var d Dashboard
	now := s.now()
	err := s.db.QueryRowxContext(ctx, `SELECT
    (SELECT count(*) FROM marketing_users WHERE merged_into IS NULL AND n_identities > 0),
    (SELECT count(*) FROM marketing_users WHERE created_at >= $1::timestamptz - interval '7 days'),
    (SELECT count(*) FROM identity_merge_log WHERE kind = 'merge' AND occurred_at >= $1::timestamptz - interval '7 days'),
    (SELECT count(*) FROM identity_merge_log WHERE kind = 'split' AND occurred_at >= $1::timestamptz - interval '7 days'),
    (SELECT count(*) FROM identity_conflicts WHERE status = 'open'),
    (SELECT count(*) FROM marketing_user_archive),
    (SELECT count(*) FROM data_erasures),
    (SELECT count(*) FROM wecom_inbox WHERE state = 'pending'),
    (SELECT min(received_at) FROM wecom_inbox WHERE state = 'pending'),
    (SELECT count(*) FROM wecom_inbox WHERE state = 'dead'),
    (SELECT max(synced_at) FROM wecom_employees)`, now).Scan(&d.LiveUsers, &d.NewUsers7d, &d.Merges7d, &d.Splits7d,
		&d.OpenConflicts, &d.Archived, &d.Erasures, &d.InboxPending, &d.oldestPending, &d.DeadLetters, &d.LastSync)
	if err != nil {
		return d, fmt.Errorf("dashboard: figures: %w", err)
	}
	if d.oldestPending != nil {
		d.InboxLag = now.Sub(*d.oldestPending)
	}
	if d.Registrations, err = s.perDay(ctx, registrationsPerDay, now, 14); err != nil {
		return d, err
	}
	if d.NewUsersByDay, err = s.perDay(ctx, newUsersPerDay, now, 14); err != nil {
		return d, err
	}
	err = s.db.SelectContext(ctx, &d.ByChannel, `SELECT coalesce(nullif(channel, ''), '未标记') AS channel, count(*) AS n
FROM moments WHERE kind = 'form_submitted' AND occurred_at >= $1::timestamptz - interval '30 days'
GROUP BY 1 ORDER BY n DESC, channel LIMIT 12`, now)
	if err != nil {
		return d, fmt.Errorf("dashboard: by channel: %w", err)
	}
	return d, nil
}

const registrationsPerDay = `SELECT d.day, count(m.id) AS n
FROM generate_series(date_trunc('day', $1::timestamptz) - ($2::int - 1) * interval '1 day', date_trunc('day', $1::timestamptz), interval '1 day') AS d(day)
LEFT JOIN moments m ON m.kind = 'form_submitted' AND m.occurred_at >= d.day AND m.occurred_at < d.day + interval '1 day'
GROUP BY d.day ORDER BY d.day`

const newUsersPerDay = `SELECT d.day, count(u.id) AS n
FROM generate_series(date_trunc('day', $1::timestamptz) - ($2::int - 1) * interval '1 day', date_trunc('day', $1::timestamptz), interval '1 day') AS d(day)
LEFT JOIN marketing_users u ON u.created_at >= d.day AND u.created_at < d.day + interval '1 day'
GROUP BY d.day ORDER BY d.day`

func (s *DashboardService) perDay(ctx context.Context, q string, now time.Time, days int) ([]DayCount, error) {
	var out []DayCount
	if err := s.db.SelectContext(ctx, &out, q, now, days); err != nil {
		return nil, fmt.Errorf("dashboard: per day: %w", err)
	}
	return out, nil
}
