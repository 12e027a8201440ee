package services

import (
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// segmentQuery compiles a SegmentFilter into the WHERE clause of one query
// over marketing_users u. Every value goes through arg, which appends it to
// the arguments and returns its placeholder: no value of the filter ever
// becomes SQL text, whatever a tag name or channel contains.
type segmentQuery struct {
	args  []any
	conds []string
}

func (q *segmentQuery) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *segmentQuery) add(cond string) { q.conds = append(q.conds, cond) }

// where returns the conditions joined with AND (live users only).
func (q *segmentQuery) where() string {
	return strings.Join(append([]string{"u.merged_into IS NULL"}, q.conds...), "\n  AND ")
}

// followUsers is the marketing users with a live WeCom relation (of the
// connected corp) matching cond, through their external_userid identity.
const followUsers = `SELECT i.user_id FROM wecom_follows f
    JOIN identities i ON i.kind = 'wecom_external_userid' AND i.scope = f.corp_id AND i.key = f.external_userid
    WHERE f.deleted_at IS NULL AND f.corp_id = (SELECT corp_id FROM wecom_settings) AND `

// momentUsers is the marketing users with a moment matching cond.
const momentUsers = `SELECT i.user_id FROM moments m JOIN identities i ON i.id = m.identity_id WHERE `

// compileSegment builds the query of f as of now. f must be valid.
func compileSegment(f SegmentFilter, now time.Time) *segmentQuery {
	q := &segmentQuery{}
	if len(f.TagIDs) > 0 {
		q.add("u.id IN (" + followUsers + "f.tag_ids && " + q.arg(pq.Array(f.TagIDs)) + "::text[])")
	}
	if len(f.ExcludeTagIDs) > 0 {
		q.add("NOT EXISTS (SELECT 1 FROM (" + followUsers + "f.tag_ids && " + q.arg(pq.Array(f.ExcludeTagIDs)) +
			"::text[]) x WHERE x.user_id = u.id)")
	}
	if len(f.Channels) > 0 {
		ch := q.arg(pq.Array(f.Channels))
		q.add("(u.id IN (" + followUsers + "f.state = ANY (" + ch + "::text[])) OR u.id IN (" + momentUsers +
			"m.channel = ANY (" + ch + "::text[]) AND m.channel <> ''))")
	}
	for _, k := range f.HasKinds {
		q.add("EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.kind = " + q.arg(k) + ")")
	}
	for _, k := range f.LacksKinds {
		q.add("NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.kind = " + q.arg(k) + ")")
	}
	if len(f.LevelIDs) > 0 {
		q.add("u.id IN (SELECT st.user_id FROM member_level_state st WHERE st.level_id = ANY (" + q.arg(pq.Array(f.LevelIDs)) + "::bigint[]))")
	}
	compileActivity(q, f, now)
	return q
}

// compileActivity adds the form registration and last-activity conditions.
func compileActivity(q *segmentQuery, f SegmentFilter, now time.Time) {
	if f.FormID > 0 {
		// form_submitted carries detail.form_id; moments_material indexes it.
		sub := "u.id IN (" + momentUsers + "m.kind = 'form_submitted' AND m.detail ->> 'form_id' = " +
			q.arg(strconv.FormatInt(f.FormID, 10)) + ")"
		if f.FormMode == FormNotRegistered {
			sub = "NOT " + sub
		}
		q.add(sub)
	}
	if f.ActiveWithinDays > 0 {
		q.add("u.id IN (" + momentUsers + "m.occurred_at >= " + q.arg(now.Add(-time.Duration(f.ActiveWithinDays)*24*time.Hour)) + ")")
	}
	if f.InactiveSince != "" {
		// validated as a date; the day starts in China time like the rest of the console
		day, _ := time.ParseInLocation(time.DateOnly, f.InactiveSince, chinaTime)
		q.add("NOT EXISTS (SELECT 1 FROM identities i JOIN moments m ON m.identity_id = i.id WHERE i.user_id = u.id AND m.occurred_at >= " +
			q.arg(day) + ")")
	}
}
