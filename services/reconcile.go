package services

import (
	"context"
	"fmt"
	"strings"
)

// SyncReport compares what WeCom (or the Official Account) reported during
// a sync with what the database holds at its end.
type SyncReport struct {
	Kind   SyncKind `json:"kind"`
	Unit   string   `json:"unit"`   // what is counted, e.g. 客户关系
	Remote int64    `json:"remote"` // reported by WeChat during the job
	Local  int64    `json:"local"`  // held here afterwards
	// Customers is the number of distinct customers held here (contacts).
	Customers int64 `json:"customers,omitempty"`
	// Gaps lists members whose relation counts differ (contacts), largest
	// difference first, at most 50.
	Gaps []SyncGap `json:"gaps,omitempty"`
}

// SyncGap is one member whose customers here differ from WeCom's.
type SyncGap struct {
	UserID string `json:"userid" db:"userid"`
	Name   string `json:"name" db:"name"`
	Remote int64  `json:"remote" db:"remote"`
	Local  int64  `json:"local" db:"local"`
}

// Missing is how many relations WeCom has that are not here (negative: extra).
func (g SyncGap) Missing() int64 { return g.Remote - g.Local }

// InStep reports whether both sides agree.
func (r SyncReport) InStep() bool { return r.Remote == r.Local && len(r.Gaps) == 0 }

// Summary says it in one line, e.g. "企业微信报告 12,403 个客户关系；本地 12,398
// 个；张三 (zhangsan) 缺 5 个".
func (r SyncReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "企业微信报告 %s 个%s；本地 %s 个", thousands(r.Remote), r.Unit, thousands(r.Local))
	if r.Kind == SyncFans {
		b.Reset()
		fmt.Fprintf(&b, "公众号报告 %s 个%s；本地 %s 个", thousands(r.Remote), r.Unit, thousands(r.Local))
	}
	for i, g := range r.Gaps {
		if i == 3 {
			fmt.Fprintf(&b, "；另有 %d 名员工不一致", len(r.Gaps)-3)
			break
		}
		name := g.UserID
		if g.Name != "" {
			name = g.Name + " (" + g.UserID + ")"
		}
		if d := g.Missing(); d > 0 {
			fmt.Fprintf(&b, "；%s 缺 %s 个", name, thousands(d))
		} else {
			fmt.Fprintf(&b, "；%s 多 %s 个", name, thousands(-d))
		}
	}
	return b.String()
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// reconcile builds the report of a job whose steps finished.
func (s *SyncService) reconcile(ctx context.Context, j SyncJob) (SyncReport, error) {
	j, err := s.FindJob(ctx, j.ID)
	if err != nil {
		return SyncReport{}, err
	}
	rep := SyncReport{Kind: j.Kind, Remote: j.Planned}
	var q string
	switch j.Kind {
	case SyncContacts:
		return s.reconcileContacts(ctx, j)
	case SyncEmployees:
		rep.Unit, q = "员工", `SELECT count(*) FROM wecom_employees WHERE corp_id = $1 AND deleted_at IS NULL`
	case SyncTags:
		rep.Unit, q = "标签", `SELECT count(*) FROM wecom_tags WHERE corp_id = $1 AND deleted_at IS NULL`
	case SyncGroups:
		rep.Unit, q = "客户群", `SELECT count(*) FROM wecom_group_chats WHERE corp_id = $1 AND dismissed_at IS NULL`
	case SyncFans:
		rep.Unit, q = "粉丝", `SELECT count(*) FROM oa_followers WHERE corp_id = $1 AND subscribed`
	}
	if err := s.db.GetContext(ctx, &rep.Local, q, j.CorpID); err != nil {
		return SyncReport{}, fmt.Errorf("sync: reconcile: %w", err)
	}
	return rep, nil
}

// reconcileContacts compares, member by member, the relations WeCom listed
// during the job with the live relations held here (a relation the customer
// deleted is still listed by WeCom, so it counts; one the member deleted
// does not).
func (s *SyncService) reconcileContacts(ctx context.Context, j SyncJob) (SyncReport, error) {
	rep := SyncReport{Kind: SyncContacts, Unit: "客户关系"}
	var rows []SyncGap
	err := s.db.SelectContext(ctx, &rows, `WITH remote AS (SELECT userid, remote FROM sync_job_counts WHERE job_id = $1),
members AS (SELECT unnest(userids) AS userid FROM sync_job_chunks WHERE job_id = $1),
local AS (SELECT f.userid, count(*) AS n FROM wecom_follows f JOIN members m ON m.userid = f.userid
          WHERE f.corp_id = $2 AND NOT f.deleted_by_staff AND (f.deleted_at IS NULL OR f.deleted_by_customer)
          GROUP BY f.userid)
SELECT m.userid, coalesce(e.name, '') AS name, coalesce(r.remote, 0) AS remote, coalesce(l.n, 0) AS local
FROM members m LEFT JOIN remote r ON r.userid = m.userid LEFT JOIN local l ON l.userid = m.userid
LEFT JOIN wecom_employees e ON e.corp_id = $2 AND e.userid = m.userid`, j.ID, j.CorpID)
	if err != nil {
		return SyncReport{}, fmt.Errorf("sync: reconcile contacts: %w", err)
	}
	for _, g := range rows {
		rep.Remote += g.Remote
		rep.Local += g.Local
		if g.Remote != g.Local {
			rep.Gaps = append(rep.Gaps, g)
		}
	}
	sortGaps(rep.Gaps)
	if len(rep.Gaps) > 50 {
		rep.Gaps = rep.Gaps[:50]
	}
	err = s.db.GetContext(ctx, &rep.Customers, `SELECT count(DISTINCT f.external_userid) FROM wecom_follows f
WHERE f.corp_id = $1 AND NOT f.deleted_by_staff AND (f.deleted_at IS NULL OR f.deleted_by_customer)`, j.CorpID)
	if err != nil {
		return SyncReport{}, fmt.Errorf("sync: reconcile customers: %w", err)
	}
	return rep, nil
}

func sortGaps(g []SyncGap) {
	abs := func(x int64) int64 {
		if x < 0 {
			return -x
		}
		return x
	}
	for i := 1; i < len(g); i++ {
		for k := i; k > 0 && abs(g[k].Missing()) > abs(g[k-1].Missing()); k-- {
			g[k], g[k-1] = g[k-1], g[k]
		}
	}
}
