package services

import (
	"context"
	"strconv"
)

// Segments as promotion-task targets: a task for a segment goes to the
// employees who follow (live relation) at least one of its customers, so
// the material reaches the people who can send it to them.

// segmentFollowers is the claim query's condition on the employee: $4 are
// the segment's marketing user ids.
const segmentFollowers = `SELECT f.userid FROM wecom_follows f
    JOIN identities i ON i.kind = 'wecom_external_userid' AND i.scope = f.corp_id AND i.key = f.external_userid
    WHERE f.corp_id = $1 AND f.deleted_at IS NULL AND i.user_id = ANY ($4::bigint[])`

// WithSegments lets tasks target segments; without it a segment task is
// refused when published.
func (s *TaskService) WithSegments(seg *SegmentService) *TaskService {
	s.segments = seg
	return s
}

// segmentUsers returns the marketing users of a segment task (nil for other
// kinds). Errors: ENOTFOUND (segment deleted), EINVALID (no segments).
func (s *TaskService) segmentUsers(ctx context.Context, t Task) ([]int64, error) {
	if t.TargetKind != TargetSegment {
		return nil, nil
	}
	if s.segments == nil || len(t.TargetIDs) != 1 {
		return nil, Invalid("无法按人群推送", map[string]string{"targets": "人群功能未启用"})
	}
	id, err := strconv.ParseInt(t.TargetIDs[0], 10, 64)
	if err != nil {
		return nil, Invalid("人群不存在", map[string]string{"targets": "人群不存在"})
	}
	ids, err := s.segments.UserIDs(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Invalid("人群不存在", map[string]string{"targets": "人群已被删除"})
	}
	return ids, err
}
