package services

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// MemberTagService keeps member levels in step with WeCom corp tags (issue
// 8): an admin binds a level to a corp tag (or has one created per level),
// and every member's WeCom relations carry the tag of the member's level and
// none of the other levels' tags. A level change queues a job in the
// change's own transaction (queueTagSync); the worker (members_tags_worker.go)
// calls mark_tag outside any transaction, retries with backoff, and leaves a
// job that keeps failing as 'failed', shown on the members page.
type MemberTagService struct {
	db     *sqlx.DB
	audit  *AuditService
	wechat WeChatSource
	log    *slog.Logger
	now    func() time.Time
	// MaxAttempts runs before a job is left failed; Backoff is the pause
	// after the n-th failed attempt; Lease bounds how long a crashed worker
	// keeps a job. Tests shorten them.
	MaxAttempts int
	Backoff     func(attempt int) time.Duration
	Lease       time.Duration
	wake        chan struct{}
}

// NewMemberTagService returns the service; wechat gives the WeCom client.
func NewMemberTagService(db *sqlx.DB, audit *AuditService, wechat WeChatSource, log *slog.Logger) *MemberTagService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &MemberTagService{db: db, audit: audit, wechat: wechat, log: log, now: time.Now,
		MaxAttempts: 6, Backoff: tagBackoff, Lease: 2 * time.Minute, wake: make(chan struct{}, 1)}
}

// tagBackoff waits 30 s, 1, 2, 4… minutes, at most an hour: WeCom's
// frequency limits (45009) and outages pass in minutes.
func tagBackoff(attempt int) time.Duration {
	d := 30 * time.Second << min(attempt-1, 7)
	return min(d, time.Hour)
}

// LevelTagGroupName is the tag group CreateLevelTags creates in WeCom.
const LevelTagGroupName = "会员等级"

// TagOption is a corp tag of the synced library a level can be bound to.
type TagOption struct {
	ID    string `db:"tag_id"`
	Name  string `db:"name"`
	Group string `db:"group_name"`
}

// TagOptions lists the live corp tags of the connected corp, by group.
func (s *MemberTagService) TagOptions(ctx context.Context) ([]TagOption, error) {
	var out []TagOption
	err := s.db.SelectContext(ctx, &out, `SELECT t.tag_id, t.name, coalesce(g.name, '') AS group_name
FROM wecom_tags t LEFT JOIN wecom_tag_groups g ON g.corp_id = t.corp_id AND g.group_id = t.group_id
WHERE t.corp_id = (SELECT corp_id FROM wecom_settings) AND t.deleted_at IS NULL
ORDER BY g.sort_order DESC NULLS LAST, t.group_id, t.sort_order DESC, t.tag_id`)
	if err != nil {
		return nil, fmt.Errorf("member tags: options: %w", err)
	}
	return out, nil
}

// BindLevelTag binds level levelID to corp tag tagID ("" unbinds) and queues
// a sync for the level's members, so they get the new tag and lose the old.
// Admins only. Errors: EFORBIDDEN, ENOTFOUND, EINVALID (a tag not in the
// synced library, or bound to another level).
func (s *MemberTagService) BindLevelTag(ctx context.Context, v Operator, levelID int64, tagID string) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := checkBindable(ctx, tx, levelID, tagID); err != nil {
			return err
		}
		old, err := rebindLevel(ctx, tx, levelID, tagID)
		if err != nil || old == tagID {
			return err
		}
		if err := queueLevelSync(ctx, tx, levelID, old); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, v.audit("member_level_tag_bound", "member_level", strconv.FormatInt(levelID, 10),
			map[string]any{"tag_id": tagID, "previous": old}))
	})
	if err == nil {
		s.Wake()
	}
	return wrapErr("member tags: bind", err)
}

// checkBindable refuses tags the library does not have and tags another
// level holds: one tag on two levels could never tell them apart.
func checkBindable(ctx context.Context, tx *sqlx.Tx, levelID int64, tagID string) error {
	if tagID == "" {
		return nil
	}
	var row struct {
		Known bool   `db:"known"`
		Other string `db:"other"`
	}
	err := tx.GetContext(ctx, &row, `SELECT
  EXISTS (SELECT 1 FROM wecom_tags WHERE corp_id = (SELECT corp_id FROM wecom_settings) AND tag_id = $2 AND deleted_at IS NULL) AS known,
  coalesce((SELECT name FROM member_levels WHERE corp_tag_id = $2 AND id <> $1 LIMIT 1), '') AS other`, levelID, tagID)
	if err != nil {
		return fmt.Errorf("check tag: %w", err)
	}
	if !row.Known {
		return Invalid("请选择企业微信标签", map[string]string{"tag": "标签不在已同步的企业标签库中，请先同步标签"})
	}
	if row.Other != "" {
		return Invalid("请选择企业微信标签", map[string]string{"tag": "该标签已绑定到等级「" + row.Other + "」"})
	}
	return nil
}

// rebindLevel sets the level's tag and returns the previous one.
func rebindLevel(ctx context.Context, tx *sqlx.Tx, levelID int64, tagID string) (string, error) {
	var old string
	err := tx.GetContext(ctx, &old, `UPDATE member_levels l SET corp_tag_id = $2
FROM (SELECT id, corp_tag_id FROM member_levels WHERE id = $1 FOR UPDATE) prev
WHERE l.id = prev.id RETURNING prev.corp_tag_id`, levelID, tagID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Errorf(ENOTFOUND, "等级不存在")
	}
	if err != nil {
		return "", fmt.Errorf("bind: %w", err)
	}
	return old, nil
}

// queueTagSync queues a sync of one member (in the caller's transaction,
// e.g. the level change's). Nothing is queued while no level has a tag and
// there is nothing extra to remove. A member with an open job has it
// bumped instead: the running worker then runs it again with the new state.
func queueTagSync(ctx context.Context, tx sqlx.ExtContext, userID int64, removeTags []string) error {
	_, err := tx.ExecContext(ctx, queueTagSQL+` SELECT $1::bigint, $2::text[]
WHERE cardinality($2::text[]) > 0 OR EXISTS (SELECT 1 FROM member_levels WHERE corp_tag_id <> '')`+queueTagConflict,
		userID, pq.Array(nonEmpty(removeTags)))
	if err != nil {
		return fmt.Errorf("member tags: queue: %w", err)
	}
	return nil
}

// queueLevelSync queues a sync of every member holding levelID.
func queueLevelSync(ctx context.Context, tx sqlx.ExtContext, levelID int64, oldTag string) error {
	_, err := tx.ExecContext(ctx, queueTagSQL+` SELECT st.user_id, $2::text[] FROM member_level_state st
JOIN marketing_users u ON u.id = st.user_id AND u.merged_into IS NULL WHERE st.level_id = $1`+queueTagConflict,
		levelID, pq.Array(nonEmpty([]string{oldTag})))
	if err != nil {
		return fmt.Errorf("member tags: queue level: %w", err)
	}
	return nil
}

const queueTagSQL = `INSERT INTO member_tag_jobs (user_id, remove_tags)`

const queueTagConflict = `
ON CONFLICT (user_id) WHERE state = 'pending' DO UPDATE SET
  generation = member_tag_jobs.generation + 1, run_after = now(), attempts = 0, updated_at = now(),
  remove_tags = ARRAY(SELECT DISTINCT x FROM unnest(member_tag_jobs.remove_tags || excluded.remove_tags) x)`

func nonEmpty(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// TagSyncFailure is a job that stopped failing, for the members page.
type TagSyncFailure struct {
	ID        int64     `db:"id"`
	UserID    int64     `db:"user_id"`
	Attempts  int       `db:"attempts"`
	LastError string    `db:"last_error"`
	At        time.Time `db:"updated_at"`
}

// TagSyncStatus is what the members page shows of the sync.
type TagSyncStatus struct {
	Pending  int
	Retrying int // pending jobs that failed at least once
	Failed   []TagSyncFailure
}

// SyncStatus counts open jobs and lists the latest failed ones.
func (s *MemberTagService) SyncStatus(ctx context.Context) (TagSyncStatus, error) {
	var st TagSyncStatus
	err := s.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0)
FROM member_tag_jobs WHERE state = 'pending'`).Scan(&st.Pending, &st.Retrying)
	if err != nil {
		return st, fmt.Errorf("member tags: status: %w", err)
	}
	err = s.db.SelectContext(ctx, &st.Failed, `SELECT id, user_id, attempts, last_error, updated_at
FROM member_tag_jobs WHERE state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT 20`)
	if err != nil {
		return st, fmt.Errorf("member tags: failures: %w", err)
	}
	return st, nil
}

// RetryTagSync queues a failed job again, now. Admins only.
// Errors: EFORBIDDEN, ENOTFOUND.
func (s *MemberTagService) RetryTagSync(ctx context.Context, v Operator, jobID int64) error {
	if err := v.requireRole(RoleAdmin); err != nil {
		return err
	}
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var job struct {
			UserID int64          `db:"user_id"`
			Remove pq.StringArray `db:"remove_tags"`
		}
		err := tx.GetContext(ctx, &job, `DELETE FROM member_tag_jobs WHERE id = $1 AND state = 'failed' RETURNING user_id, remove_tags`, jobID)
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "该同步任务不存在或已在重试")
		}
		if err != nil {
			return fmt.Errorf("retry: %w", err)
		}
		if err := queueTagSync(ctx, tx, job.UserID, job.Remove); err != nil {
			return err
		}
		return s.audit.recordTx(ctx, tx, v.audit("member_tag_sync_retried", "marketing_user", strconv.FormatInt(job.UserID, 10), nil))
	})
	if err == nil {
		s.Wake()
	}
	return wrapErr("member tags: retry", err)
}
