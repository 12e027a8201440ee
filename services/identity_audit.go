package services

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// AuditReport is what an audit found (and with repair, fixed).
type AuditReport struct {
	Identities int // identities read
	Edges      int // merge-log edges read besides each identity's linked_to
	Components int
	// Drifted is the number of identities whose user differs from their
	// component's; SpanningUsers counts users split over several components
	// and MixedComponents components holding several users.
	Drifted         int
	SpanningUsers   int
	MixedComponents int
	Repaired        int // identities re-pointed (repair only)
	NewUsers        int // users created for orphaned components (repair only)
	Recounted       int // users whose identity or phone counters were corrected (repair only)
	Elapsed         time.Duration
}

// auditGraph is the identity graph in flat arrays: index k is one identity.
type auditGraph struct {
	ids, users []int64
	parent     []int32
	size       []int32
	minID      int64
	pos        []int32 // id - minID → index+1 (0: none)
}

func (g *auditGraph) find(x int32) int32 {
	for g.parent[x] != x {
		g.parent[x] = g.parent[g.parent[x]] // path halving
		x = g.parent[x]
	}
	return x
}

func (g *auditGraph) union(a, b int32) {
	ra, rb := g.find(a), g.find(b)
	if ra == rb {
		return
	}
	if g.size[ra] < g.size[rb] {
		ra, rb = rb, ra
	}
	g.parent[rb] = ra
	g.size[ra] += g.size[rb]
}

func (g *auditGraph) index(id int64) (int32, bool) {
	d := id - g.minID
	if d < 0 || d >= int64(len(g.pos)) || g.pos[d] == 0 {
		return 0, false
	}
	return g.pos[d] - 1, true
}

// Audit recomputes the marketing users from the identity graph (each
// identity's linked_to edge plus the unsevered merge-log edges) with an
// in-memory union-find, and reports identities whose user differs from their
// component's. With repair it re-points only those identities, creating
// users for orphaned components and marking emptied users absorbed; links
// wait while it runs. It reads in one snapshot and copes with millions of rows.
func (s *IdentityService) Audit(ctx context.Context, repair bool) (AuditReport, error) {
	start := time.Now()
	var rep AuditReport
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: !repair}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return rep, fmt.Errorf("identities: audit: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if repair {
		// EXCLUSIVE lets readers on, keeps links and splits out until we commit.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE marketing_users, identities IN EXCLUSIVE MODE`); err != nil {
			return rep, fmt.Errorf("identities: audit: lock: %w", err)
		}
	}
	g, links, err := readGraph(ctx, tx)
	if err != nil {
		return rep, err
	}
	rep.Identities = len(g.ids)
	if rep.Edges, err = g.addEdges(ctx, tx, links); err != nil {
		return rep, err
	}
	want, newUsers := g.assign(&rep)
	if repair {
		if rep.Drifted > 0 {
			if err := s.repair(ctx, tx, g, want, newUsers, &rep); err != nil {
				return rep, err
			}
		}
		res, err := tx.ExecContext(ctx, recountQuery)
		if err != nil {
			return rep, fmt.Errorf("identities: repair: recount: %w", err)
		}
		n, _ := res.RowsAffected()
		rep.Recounted = int(n)
		if err := tx.Commit(); err != nil {
			return rep, fmt.Errorf("identities: audit: commit: %w", err)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// readGraph streams (id, user_id, linked_to) and builds the flat graph.
func readGraph(ctx context.Context, tx *sqlx.Tx) (*auditGraph, []int64, error) {
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT reltuples::bigint FROM pg_class WHERE oid = 'identities'::regclass`); err != nil {
		return nil, nil, fmt.Errorf("identities: audit: %w", err)
	}
	g := &auditGraph{ids: make([]int64, 0, max(n, 0)+16), users: make([]int64, 0, max(n, 0)+16)}
	links := make([]int64, 0, max(n, 0)+16)
	rows, err := tx.QueryContext(ctx, `SELECT id, user_id, coalesce(linked_to, 0) FROM identities`)
	if err != nil {
		return nil, nil, fmt.Errorf("identities: audit: read: %w", err)
	}
	defer rows.Close()
	var id, user, link int64
	minID, maxID := int64(1<<62), int64(0)
	for rows.Next() {
		if err := rows.Scan(&id, &user, &link); err != nil {
			return nil, nil, fmt.Errorf("identities: audit: read: %w", err)
		}
		g.ids, g.users, links = append(g.ids, id), append(g.users, user), append(links, link)
		minID, maxID = min(minID, id), max(maxID, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("identities: audit: read: %w", err)
	}
	if len(g.ids) == 0 {
		return g, links, nil
	}
	g.minID = minID
	g.pos = make([]int32, maxID-minID+1)
	g.parent = make([]int32, len(g.ids))
	g.size = make([]int32, len(g.ids))
	for k, id := range g.ids {
		g.pos[id-minID] = int32(k) + 1
		g.parent[k], g.size[k] = int32(k), 1
	}
	return g, links, nil
}

// addEdges unions each identity with its linked_to and along merge edges.
func (g *auditGraph) addEdges(ctx context.Context, tx *sqlx.Tx, links []int64) (int, error) {
	for k, l := range links {
		if j, ok := g.index(l); ok && l != 0 {
			g.union(int32(k), j)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT via_from, via_into FROM identity_merge_log
WHERE kind = 'merge' AND NOT severed AND via_from IS NOT NULL AND via_into IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("identities: audit: edges: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			return 0, err
		}
		ia, oka := g.index(a)
		ib, okb := g.index(b)
		if oka && okb {
			g.union(ia, ib)
		}
		n++
	}
	return n, rows.Err()
}

// assign picks the user each component should have and returns the desired
// user per identity (negative: the n-th new user) and how many are new.
func (g *auditGraph) assign(rep *AuditReport) ([]int64, int) {
	n := len(g.ids)
	compUser := make(map[int32]int64, n/2) // root → its user when unmixed
	mixed := map[int32]map[int64]int{}
	for k := range n {
		r := g.find(int32(k))
		u, seen := compUser[r]
		switch {
		case !seen:
			compUser[r] = g.users[k]
		case u != g.users[k] || mixed[r] != nil:
			if mixed[r] == nil {
				mixed[r] = map[int64]int{}
				for j := range k { // rare: count the earlier members
					if g.find(int32(j)) == r {
						mixed[r][g.users[j]]++
					}
				}
			}
			mixed[r][g.users[k]]++
		}
	}
	rep.Components, rep.MixedComponents = len(compUser), len(mixed)
	for r, counts := range mixed { // majority user; ties: the smaller id
		best, bestN := int64(0), -1
		for u, c := range counts {
			if c > bestN || (c == bestN && u < best) {
				best, bestN = u, c
			}
		}
		compUser[r] = best
	}
	// a user claimed by several components keeps the biggest; the others get new users
	owner := make(map[int64]int32, len(compUser))
	roots := make([]int32, 0, len(compUser))
	for r := range compUser {
		roots = append(roots, r)
	}
	sort.Slice(roots, func(a, b int) bool {
		if g.size[roots[a]] != g.size[roots[b]] {
			return g.size[roots[a]] > g.size[roots[b]]
		}
		return roots[a] < roots[b]
	})
	newUsers := 0
	spanning := map[int64]bool{}
	for _, r := range roots {
		u := compUser[r]
		if _, taken := owner[u]; taken {
			spanning[u] = true
			newUsers++
			compUser[r] = -int64(newUsers)
			continue
		}
		owner[u] = r
	}
	rep.SpanningUsers = len(spanning)
	want := make([]int64, n)
	for k := range n {
		want[k] = compUser[g.find(int32(k))]
		if want[k] != g.users[k] {
			rep.Drifted++
		}
	}
	return want, newUsers
}

// repair writes only the identities whose user differs, through COPY into a
// temporary table, then fixes the counters of the users it touched and
// marks users left empty as absorbed.
func (s *IdentityService) repair(ctx context.Context, tx *sqlx.Tx, g *auditGraph, want []int64, newUsers int, rep *AuditReport) error {
	var created []int64
	if newUsers > 0 {
		if err := tx.SelectContext(ctx, &created, `INSERT INTO marketing_users (n_identities)
SELECT 0 FROM generate_series(1, $1) RETURNING id`, newUsers); err != nil {
			return fmt.Errorf("identities: repair: users: %w", err)
		}
		rep.NewUsers = newUsers
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE audit_fix (id bigint, old_user bigint, new_user bigint) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("identities: repair: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("audit_fix", "id", "old_user", "new_user"))
	if err != nil {
		return fmt.Errorf("identities: repair: copy: %w", err)
	}
	for k, w := range want {
		if w == g.users[k] {
			continue
		}
		if w < 0 {
			w = created[-w-1]
		}
		if _, err := stmt.ExecContext(ctx, g.ids[k], g.users[k], w); err != nil {
			return fmt.Errorf("identities: repair: copy: %w", err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("identities: repair: copy: %w", err)
	}
	stmt.Close()
	for i, q := range repairQueries {
		res, err := tx.ExecContext(ctx, q)
		if err != nil {
			return fmt.Errorf("identities: repair %d: %w", i, err)
		}
		if i == 0 {
			n, _ := res.RowsAffected()
			rep.Repaired = int(n)
		}
	}
	return nil
}

// repairQueries re-point the drifted identities, recount the touched users,
// point users left without identities at the user that got most of them,
// and compress merge chains through those.
var repairQueries = []string{
	`UPDATE identities i SET user_id = f.new_user FROM audit_fix f WHERE i.id = f.id`,
	`UPDATE marketing_users u SET updated_at = now(),
    n_identities = (SELECT count(*) FROM identities i WHERE i.user_id = u.id),
    n_phones = (SELECT count(*) FROM identities i WHERE i.user_id = u.id AND i.kind = 'phone')
WHERE u.id IN (SELECT old_user FROM audit_fix UNION SELECT new_user FROM audit_fix)`,
	`UPDATE marketing_users u SET merged_into = (
    SELECT f.new_user FROM audit_fix f WHERE f.old_user = u.id GROUP BY f.new_user ORDER BY count(*) DESC, f.new_user LIMIT 1)
WHERE u.id IN (SELECT old_user FROM audit_fix) AND u.merged_into IS NULL
  AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id)`,
	`UPDATE marketing_users u SET merged_into = t.merged_into
FROM marketing_users t WHERE u.merged_into = t.id AND t.merged_into IS NOT NULL`,
}

// recountQuery corrects the users whose counters differ from their identities.
const recountQuery = `UPDATE marketing_users u SET n_identities = coalesce(c.n, 0), n_phones = coalesce(c.p, 0), updated_at = now()
FROM marketing_users x
LEFT JOIN (SELECT user_id, count(*) AS n, count(*) FILTER (WHERE kind = 'phone') AS p
           FROM identities GROUP BY user_id) c ON c.user_id = x.id
WHERE u.id = x.id AND (u.n_identities <> coalesce(c.n, 0) OR u.n_phones <> coalesce(c.p, 0))`
