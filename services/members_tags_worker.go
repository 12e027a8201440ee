package services

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// tagJob is a claimed member_tag_jobs row.
type tagJob struct {
	ID         int64          `db:"id"`
	UserID     int64          `db:"user_id"`
	Generation int            `db:"generation"`
	Attempts   int            `db:"attempts"`
	RemoveTags pq.StringArray `db:"remove_tags"`
}

// tagPlan is what a member's relations should carry.
type tagPlan struct {
	UserID    int64          `db:"user_id"`
	TagID     string         `db:"tag_id"` // the level's tag; "" when it has none
	LevelName string         `db:"level_name"`
	Others    pq.StringArray `db:"others"` // tags to take off: other levels' and the job's
}

// tagRelation is one WeCom relation (follower, customer) of the member.
type tagRelation struct {
	IdentityID     int64          `db:"identity_id"`
	UserID         string         `db:"userid"`
	ExternalUserID string         `db:"external_userid"`
	TagIDs         pq.StringArray `db:"tag_ids"`
}

// Wake makes a waiting worker look for due jobs now.
func (s *MemberTagService) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunWorker syncs due jobs until ctx ends; every instance may run one (jobs
// are claimed with SKIP LOCKED and a lease). Now and then it drops finished
// jobs, which only matter while they run.
func (s *MemberTagService) RunWorker(ctx context.Context, poll time.Duration) {
	var swept time.Time
	for {
		if _, err := s.ProcessDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("member tags: worker", "err", err)
		}
		if time.Since(swept) > time.Hour {
			swept = time.Now()
			if err := s.sweepDone(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("member tags: sweep", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(poll):
		}
	}
}

// ProcessDue runs every due job once and returns how many it ran. A job's
// own failure is recorded on the job, not returned.
func (s *MemberTagService) ProcessDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		j, ok, err := s.claim(ctx)
		if err != nil || !ok {
			return n, err
		}
		n++
		if err := s.finish(ctx, j, s.runJob(ctx, j)); err != nil {
			return n, err
		}
	}
	return n, ctx.Err()
}

// sweepDone removes jobs finished more than a day ago.
func (s *MemberTagService) sweepDone(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM member_tag_jobs WHERE state = 'done' AND updated_at < now() - interval '1 day'`)
	if err != nil {
		return fmt.Errorf("member tags: sweep: %w", err)
	}
	return nil
}

// claim leases the oldest due job and counts the attempt.
func (s *MemberTagService) claim(ctx context.Context) (tagJob, bool, error) {
	var j tagJob
	err := s.db.GetContext(ctx, &j, `UPDATE member_tag_jobs SET leased_until = now() + make_interval(secs => $1),
  attempts = attempts + 1, updated_at = now()
WHERE id = (SELECT id FROM member_tag_jobs WHERE state = 'pending' AND run_after <= now()
            AND (leased_until IS NULL OR leased_until < now())
            ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, user_id, generation, attempts, remove_tags`, s.Lease.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("member tags: claim: %w", err)
	}
	return j, true, nil
}

// finish closes a job, or schedules its retry, or leaves it failed. A job
// bumped while it ran (a newer level change) stays open and runs again.
func (s *MemberTagService) finish(ctx context.Context, j tagJob, runErr error) error {
	state, after, msg := "done", time.Duration(0), ""
	if runErr != nil {
		msg = jobError(runErr)
		s.log.Warn("member tags: sync failed", "job", j.ID, "user_id", j.UserID, "attempt", j.Attempts, "err", msg)
		state, after = "pending", s.Backoff(j.Attempts)
		if j.Attempts >= s.MaxAttempts || permanentTagError(runErr) {
			state = "failed"
		}
	}
	_, err := s.db.ExecContext(ctx, `UPDATE member_tag_jobs SET leased_until = NULL, last_error = $3, updated_at = now(),
  state = CASE WHEN generation = $2 THEN $4 ELSE 'pending' END,
  run_after = CASE WHEN generation = $2 THEN now() + make_interval(secs => $5) ELSE now() END,
  attempts = CASE WHEN generation = $2 THEN attempts ELSE 0 END
WHERE id = $1`, j.ID, j.Generation, msg, state, after.Seconds())
	if err != nil {
		return fmt.Errorf("member tags: finish: %w", err)
	}
	return nil
}

// permanent errors do not get better by waiting: a tag deleted in WeCom
// needs an admin to bind another.
func permanentTagError(err error) bool { return wecom.IsAPIError(err, 40068) }

// jobError is what the members page shows: WeChat's errcode and message, or
// the service's message; never a token (adapter errors carry none).
func jobError(err error) string {
	var ae *wecom.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("企业微信错误码 %d：%s", ae.Code, ae.Msg)
	}
	if code := ErrorCode(err); code != EINTERNAL {
		return ErrorMessage(err)
	}
	return strings.TrimPrefix(err.Error(), "member tags: ")
}

// runJob brings every relation of the member in line with the plan.
func (s *MemberTagService) runJob(ctx context.Context, j tagJob) error {
	plan, rels, err := s.planFor(ctx, j)
	if err != nil {
		return err
	}
	var client *wecom.Client
	for _, r := range rels {
		add, remove := plan.diff(r)
		if len(add)+len(remove) == 0 {
			continue
		}
		if client == nil {
			if client, err = s.wechat.WeChat(ctx); err != nil {
				return err
			}
		}
		err := client.MarkTag(ctx, r.UserID, r.ExternalUserID, add, remove)
		if wecom.IsAPIError(err, 84061) {
			continue // the relation ended since the mirror saw it; the callback will tell
		}
		if err != nil {
			return err
		}
		if err := s.recordMarked(ctx, j, plan, r, add, remove); err != nil {
			return err
		}
	}
	return nil
}

// diff is what mark_tag must add to and remove from r, by the mirror. Both
// are non-nil: a nil slice would reach SQL as NULL.
func (p tagPlan) diff(r tagRelation) (add, remove []string) {
	add, remove = []string{}, []string{}
	if p.TagID != "" && !slices.Contains(r.TagIDs, p.TagID) {
		add = []string{p.TagID}
	}
	for _, t := range p.Others {
		if t != p.TagID && slices.Contains(r.TagIDs, t) && !slices.Contains(remove, t) {
			remove = append(remove, t)
		}
	}
	return add, remove
}

// planFor reads the member's level tag and live relations. A merged-away
// member resolves to the survivor, whose level is then the one that counts.
func (s *MemberTagService) planFor(ctx context.Context, j tagJob) (tagPlan, []tagRelation, error) {
	var p tagPlan
	err := s.db.GetContext(ctx, &p, `WITH u AS (SELECT identity_resolve($1) AS id),
cur AS (SELECT l.corp_tag_id, l.name FROM member_level_state st JOIN member_levels l ON l.id = st.level_id
        WHERE st.user_id = (SELECT id FROM u))
SELECT coalesce((SELECT id FROM u), $1) AS user_id,
  coalesce((SELECT corp_tag_id FROM cur), '') AS tag_id, coalesce((SELECT name FROM cur), '') AS level_name,
  ARRAY(SELECT corp_tag_id FROM member_levels WHERE corp_tag_id <> '' UNION SELECT unnest($2::text[])) AS others`,
		j.UserID, pq.Array(j.RemoveTags))
	if err != nil {
		return p, nil, fmt.Errorf("member tags: plan: %w", err)
	}
	var rels []tagRelation
	err = s.db.SelectContext(ctx, &rels, `SELECT i.id AS identity_id, f.userid, f.external_userid, f.tag_ids
FROM identities i JOIN wecom_follows f ON f.corp_id = i.scope AND f.external_userid = i.key
WHERE i.user_id = $1 AND i.kind = 'wecom_external_userid' AND i.scope = (SELECT corp_id FROM wecom_settings)
  AND f.deleted_at IS NULL AND NOT f.deleted_by_customer AND NOT f.deleted_by_staff
ORDER BY f.external_userid, f.userid`, p.UserID)
	if err != nil {
		return p, nil, fmt.Errorf("member tags: relations: %w", err)
	}
	return p, rels, nil
}

// recordMarked keeps the mirror in step (WeCom sends no callback for API
// tagging) and records a wecom_tagged moment, in one transaction.
func (s *MemberTagService) recordMarked(ctx context.Context, j tagJob, p tagPlan, r tagRelation, add, remove []string) error {
	return withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE wecom_follows SET updated_at = now(),
  tag_ids = ARRAY(SELECT x FROM unnest(tag_ids || $3::text[]) WITH ORDINALITY AS t(x, n)
                  WHERE NOT x = ANY ($4::text[]) GROUP BY x ORDER BY min(n))
WHERE corp_id = (SELECT corp_id FROM wecom_settings) AND userid = $1 AND external_userid = $2`,
			r.UserID, r.ExternalUserID, pq.Array(add), pq.Array(remove))
		if err != nil {
			return fmt.Errorf("member tags: mirror: %w", err)
		}
		return s.insertTagMoment(ctx, tx, j, p, r, add, remove)
	})
}

func (s *MemberTagService) insertTagMoment(ctx context.Context, tx *sqlx.Tx, j tagJob, p tagPlan, r tagRelation, add, remove []string) error {
	title := "会员等级标签：移除旧等级标签"
	if len(add) > 0 {
		title = "会员等级标签：" + p.LevelName
	}
	detail, _ := json.Marshal(map[string]any{"action": "member_level", "level": p.LevelName,
		"add_tag_ids": add, "remove_tag_ids": remove, "job": j.ID})
	_, err := tx.ExecContext(ctx, `INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, detail, dedup_key)
VALUES ($1, 'wecom_tagged', $2, 'member_level', $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING`,
		r.IdentityID, s.now(), r.UserID, title, detail,
		fmt.Sprintf("member_tag:%d:%d:%d:%s:%s", j.ID, j.Generation, j.Attempts, r.UserID, r.ExternalUserID))
	if err != nil {
		return fmt.Errorf("member tags: moment: %w", err)
	}
	return nil
}
