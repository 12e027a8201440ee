package services

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// syncEmployees mirrors the department tree and the members: user/list_id
// with the contacts-sync secret (falling back to the customer-contact
// members when WeCom answers 48002), user/get per member with bounded
// concurrency, and get_follow_user_list for the customer-contact flag.
// Departments and members WeCom no longer lists are marked deleted.
func (r *syncRun) syncEmployees(ctx context.Context) error {
	var depts []wecom.Department
	if err := r.call(ctx, func() (err error) { depts, err = r.t.Client.ListDepartments(ctx, 0); return err }); err != nil {
		return err
	}
	changed, err := r.s.saveDepartments(ctx, r.t.CorpID, depts)
	if err != nil {
		return err
	}
	ids, complete, err := r.memberIDs(ctx)
	if err != nil {
		return err
	}
	var follow []string
	if err := r.call(ctx, func() (err error) { follow, err = r.t.Client.FollowUsers(ctx); return err }); err != nil {
		return err
	}
	if err := r.progress(ctx, r.s.db, int64(len(ids)), 0, int64(len(depts)), changed); err != nil {
		return err
	}
	users, err := r.fetchUsers(ctx, ids)
	if err != nil {
		return err
	}
	n, err := r.s.saveEmployees(ctx, r.t.CorpID, users, follow, complete)
	if err != nil {
		return err
	}
	return r.progress(ctx, r.s.db, 0, int64(len(users)), int64(len(users)), n)
}

// memberIDs lists every member's userid; complete is false when only the
// customer-contact members could be listed.
func (r *syncRun) memberIDs(ctx context.Context) (out []string, complete bool, err error) {
	seen := map[string]bool{}
	cursor := ""
	for {
		var rows []wecom.DepartmentUser
		var next string
		err = r.call(ctx, func() (err error) { rows, next, err = r.t.Client.ListUserIDs(ctx, cursor, 0); return err })
		if wecom.IsAPIError(err, 48002) && cursor == "" {
			// No contacts-sync secret: the members with customer contact
			// are the ones that matter to this app.
			err = r.call(ctx, func() (err error) { out, err = r.t.Client.FollowUsers(ctx); return err })
			return out, false, err
		}
		if err != nil {
			return nil, false, err
		}
		for _, du := range rows {
			if !seen[du.UserID] {
				seen[du.UserID] = true
				out = append(out, du.UserID)
			}
		}
		if next == "" || next == cursor {
			return out, true, nil
		}
		cursor = next
	}
}

// fetchUsers reads the members with Concurrency parallel user/get calls.
// A member who left between the listing and the read (60111) is skipped.
func (r *syncRun) fetchUsers(ctx context.Context, ids []string) ([]wecom.User, error) {
	out := make([]wecom.User, len(ids))
	sem := make(chan struct{}, max(r.s.Concurrency, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var u wecom.User
			err := r.call(ctx, func() (err error) { u, err = r.t.Client.GetUser(ctx, id); return err })
			if wecom.IsAPIError(err, 60111, 60011) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			out[i] = u
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	kept := out[:0]
	for _, u := range out {
		if u.UserID != "" {
			kept = append(kept, u)
		}
	}
	return kept, nil
}

func (s *SyncService) saveDepartments(ctx context.Context, corp string, depts []wecom.Department) (int64, error) {
	var ids, parents, orders []int64
	var names, leaders []string
	for _, d := range depts {
		ids, parents, orders = append(ids, int64(d.ID)), append(parents, int64(d.ParentID)), append(orders, int64(d.Order))
		l, _ := json.Marshal(nonNilStrings(d.Leaders))
		names, leaders = append(names, d.Name), append(leaders, string(l))
	}
	var n int64
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO wecom_departments AS d (corp_id, id, name, parent_id, sort_order, leaders)
SELECT $1, x.id, x.n, x.p, x.o, ARRAY(SELECT jsonb_array_elements_text(x.l::jsonb))
FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[], $6::text[]) AS x(id, n, p, o, l)
ON CONFLICT (corp_id, id) DO UPDATE SET name = EXCLUDED.name, parent_id = EXCLUDED.parent_id,
    sort_order = EXCLUDED.sort_order, leaders = EXCLUDED.leaders, deleted_at = NULL, synced_at = now()
WHERE (d.name, d.parent_id, d.sort_order, d.leaders, d.deleted_at IS NULL)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.parent_id, EXCLUDED.sort_order, EXCLUDED.leaders, true)`,
			corp, pq.Array(ids), pq.Array(names), pq.Array(parents), pq.Array(orders), pq.Array(leaders))
		if err != nil {
			return fmt.Errorf("sync: upsert departments: %w", err)
		}
		n, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `UPDATE wecom_departments SET deleted_at = now()
WHERE corp_id = $1 AND deleted_at IS NULL AND NOT (id = ANY ($2))`, corp, pq.Array(ids))
		if err != nil {
			return fmt.Errorf("sync: delete departments: %w", err)
		}
		gone, _ := res.RowsAffected()
		n += gone
		return nil
	})
	return n, err
}

// saveEmployees upserts the members; with a complete listing, members not
// in it are marked deleted.
func (s *SyncService) saveEmployees(ctx context.Context, corp string, users []wecom.User, follow []string, complete bool) (int64, error) {
	isFollow := map[string]bool{}
	for _, f := range follow {
		isFollow[f] = true
	}
	var ids, names, pos, depts []string
	var mains, status []int64
	var cc []bool
	for _, u := range users {
		ids, names, pos = append(ids, u.UserID), append(names, u.Name), append(pos, u.Position)
		d, _ := json.Marshal(u.Departments)
		if u.Departments == nil {
			d = []byte("[]")
		}
		depts, mains = append(depts, string(d)), append(mains, int64(u.MainDepartment))
		st := u.Status
		if st == 0 {
			st = 1
		}
		status, cc = append(status, int64(st)), append(cc, isFollow[u.UserID])
	}
	var n int64
	err := withTx(ctx, s.db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO wecom_employees AS e (corp_id, userid, name, departments,
    main_department, position, status, customer_contact)
SELECT $1, x.u, x.n, ARRAY(SELECT jsonb_array_elements_text(x.d::jsonb)::int), x.m, x.p, x.s, x.c
FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::smallint[], $8::boolean[]) AS x(u, n, d, m, p, s, c)
ON CONFLICT (corp_id, userid) DO UPDATE SET name = EXCLUDED.name, departments = EXCLUDED.departments,
    main_department = EXCLUDED.main_department, position = EXCLUDED.position, status = EXCLUDED.status,
    customer_contact = EXCLUDED.customer_contact, in_visible_range = true, deleted_at = NULL,
    synced_at = now(), updated_at = now()
WHERE (e.name, e.departments, e.main_department, e.position, e.status, e.customer_contact, e.in_visible_range,
       e.deleted_at IS NULL)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.departments, EXCLUDED.main_department, EXCLUDED.position,
       EXCLUDED.status, EXCLUDED.customer_contact, true, true)`,
			corp, pq.Array(ids), pq.Array(names), pq.Array(depts), pq.Array(mains), pq.Array(pos), pq.Array(status), pq.Array(cc))
		if err != nil {
			return fmt.Errorf("sync: upsert employees: %w", err)
		}
		n, _ = res.RowsAffected()
		if !complete {
			return nil
		}
		res, err = tx.ExecContext(ctx, `UPDATE wecom_employees SET deleted_at = now(), updated_at = now()
WHERE corp_id = $1 AND deleted_at IS NULL AND NOT (userid = ANY ($2))`, corp, pq.Array(ids))
		if err != nil {
			return fmt.Errorf("sync: delete employees: %w", err)
		}
		gone, _ := res.RowsAffected()
		n += gone
		return nil
	})
	return n, err
}

// syncTags mirrors the corp tag library; tags and groups WeCom no longer
// lists are marked deleted.
func (r *syncRun) syncTags(ctx context.Context) error {
	var groups []wecom.TagGroup
	if err := r.call(ctx, func() (err error) { groups, err = r.t.Client.CorpTags(ctx, nil, nil); return err }); err != nil {
		return err
	}
	var gid, gname, tid, tgroup, tname []string
	var gorder, torder []int64
	for _, g := range groups {
		gid, gname, gorder = append(gid, g.GroupID), append(gname, g.GroupName), append(gorder, int64(g.Order))
		for _, t := range g.Tags {
			tid, tgroup, tname, torder = append(tid, t.ID), append(tgroup, g.GroupID), append(tname, t.Name), append(torder, int64(t.Order))
		}
	}
	var n int64
	err := withTx(ctx, r.s.db, func(tx *sqlx.Tx) error {
		var err error
		n, err = execCount(ctx, tx, []string{`INSERT INTO wecom_tag_groups AS g (corp_id, group_id, name, sort_order)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])
ON CONFLICT (corp_id, group_id) DO UPDATE SET name = EXCLUDED.name, sort_order = EXCLUDED.sort_order,
    deleted_at = NULL, synced_at = now()
WHERE (g.name, g.sort_order, g.deleted_at IS NULL) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.sort_order, true)`,
			`UPDATE wecom_tag_groups SET deleted_at = now() WHERE corp_id = $1 AND deleted_at IS NULL AND NOT (group_id = ANY ($2))`},
			r.t.CorpID, pq.Array(gid), pq.Array(gname), pq.Array(gorder))
		if err != nil {
			return err
		}
		m, err := execCount(ctx, tx, []string{`INSERT INTO wecom_tags AS t (corp_id, tag_id, group_id, name, sort_order)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[])
ON CONFLICT (corp_id, tag_id) DO UPDATE SET group_id = EXCLUDED.group_id, name = EXCLUDED.name,
    sort_order = EXCLUDED.sort_order, deleted_at = NULL, synced_at = now()
WHERE (t.group_id, t.name, t.sort_order, t.deleted_at IS NULL)
      IS DISTINCT FROM (EXCLUDED.group_id, EXCLUDED.name, EXCLUDED.sort_order, true)`,
			`UPDATE wecom_tags SET deleted_at = now() WHERE corp_id = $1 AND deleted_at IS NULL AND NOT (tag_id = ANY ($2))`},
			r.t.CorpID, pq.Array(tid), pq.Array(tgroup), pq.Array(tname), pq.Array(torder))
		n += m
		return err
	})
	if err != nil {
		return fmt.Errorf("sync: tags: %w", err)
	}
	return r.progress(ctx, r.s.db, int64(len(tid)), int64(len(tid)), int64(len(tid)+len(gid)), n)
}

// execCount runs an upsert (all args) and a "mark the rest deleted" update
// (first two args) and returns the rows they changed.
func execCount(ctx context.Context, tx *sqlx.Tx, stmts []string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, stmts[0], args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, stmts[1], args[:2]...)
	if err != nil {
		return 0, err
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}
