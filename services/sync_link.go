package services

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// linkPage links a page of sync observations inside the page's transaction.
//
// Linking 100k contacts one identity_link call at a time costs ≈0.3–0.7 ms
// of database CPU each (performance-and-identity.md §2b), too slow for the
// bulk sync. Almost every observation of a sync is simple, though: all its
// keys are new (a new person), or all are known and owned by one user (a
// re-run), or the known ones belong to one user that the new, non-unionid
// keys join (a fan who became a customer). Those are written set-based here,
// with the engine's own normalisation (prepare) and the same locks, rows and
// counters identity_link would produce. Everything else (phones, keys shared
// by two observations of the page, several owners, rules to check) goes
// through identity_link in the same transaction, so the page, its links and
// its checkpoint commit together or not at all.
func linkPage(ctx context.Context, tx *sqlx.Tx, ids *IdentityService, obs []Observation) (linkStats, error) {
	var st linkStats
	pg := bulkPage{ids: ids, tx: tx}
	if err := pg.prepare(ctx, obs, &st); err != nil {
		return st, err
	}
	if len(pg.items) == 0 {
		return st, nil
	}
	if err := pg.lockAndLookup(ctx); err != nil {
		return st, err
	}
	pg.classify()
	if err := pg.writeNew(ctx, &st); err != nil {
		return st, err
	}
	if err := pg.refreshKnown(ctx); err != nil {
		return st, err
	}
	if err := pg.insertMoments(ctx, &st); err != nil {
		return st, err
	}
	return st, pg.fallback(ctx, &st)
}

// linkStats counts what a page's linking did.
type linkStats struct {
	Created, Attached, Known, Fallback, Skipped, Moments int64
}

// changes is the number of rows the linking created (re-runs: 0).
func (l linkStats) changes() int64 { return l.Created + l.Attached + l.Moments }

type bulkClass int

const (
	classFallback bulkClass = iota
	classNew                // every key new: a new user
	classKnown              // every key owned by one user
	classAttach             // known keys owned by one user, new keys join it
)

type bulkItem struct {
	a     linkArgs
	n     int
	class bulkClass
	user  int64   // owner (known, attach) or the allocated id (new)
	idIDs []int64 // identity id per argument position (known or allocated)
}

type bulkPage struct {
	ids   *IdentityService
	tx    *sqlx.Tx
	items []*bulkItem
	// owner and identity of each key ("kind\x1fscope\x1fkey"), after locking
	owner   map[string]int64
	ident   map[string]int64
	nIdent  map[int64]int
	maxIdnt int
}

func bulkKey(kind, scope, key string) string { return kind + "\x1f" + scope + "\x1f" + key }

// prepare normalises every observation; invalid ones (bad key, only blocked
// values) are skipped and counted, as Link would refuse them.
func (p *bulkPage) prepare(ctx context.Context, obs []Observation, st *linkStats) error {
	for _, o := range obs {
		a, err := p.ids.prepare(ctx, o)
		if ErrorCode(err) == EINVALID {
			st.Skipped++
			continue
		}
		if err != nil {
			return err
		}
		p.items = append(p.items, &bulkItem{a: a, n: len(o.Identities)})
	}
	return nil
}

// lockAndLookup takes the advisory locks of every key of the page (sorted,
// as identity_link does), locks the owning users and reads who owns what.
func (p *bulkPage) lockAndLookup(ctx context.Context) error {
	var kinds, scopes, keys []string
	for _, it := range p.items {
		kinds, scopes, keys = append(kinds, it.a.kinds...), append(scopes, it.a.scopes...), append(keys, it.a.keys...)
	}
	if _, err := p.tx.ExecContext(ctx, `SELECT sync_lock_keys($1, $2, $3)`, pq.Array(kinds), pq.Array(scopes), pq.Array(keys)); err != nil {
		return fmt.Errorf("sync: lock keys: %w", err)
	}
	if err := p.lookup(ctx, kinds, scopes, keys); err != nil || len(p.owner) == 0 {
		return err // a first sync: nothing known, nothing to lock
	}
	// Lock the owners (id order, as identity_link) so no merge moves their
	// identities under us, then read again what they own.
	if _, err := p.tx.ExecContext(ctx, `SELECT 1 FROM marketing_users WHERE id IN (
SELECT i.user_id FROM unnest($1::text[], $2::text[], $3::text[]) AS x(k, s, v)
JOIN identities i ON i.kind = x.k AND i.scope = x.s AND i.key = x.v) ORDER BY id FOR UPDATE`,
		pq.Array(kinds), pq.Array(scopes), pq.Array(keys)); err != nil {
		return fmt.Errorf("sync: lock users: %w", err)
	}
	if err := p.lookup(ctx, kinds, scopes, keys); err != nil {
		return err
	}
	return p.tx.GetContext(ctx, &p.maxIdnt, `SELECT max_identities FROM identity_settings`)
}

// lookup reads the owners of the keys.
func (p *bulkPage) lookup(ctx context.Context, kinds, scopes, keys []string) error {
	var rows []struct {
		Kind   string `db:"kind"`
		Scope  string `db:"scope"`
		Key    string `db:"key"`
		ID     int64  `db:"id"`
		UserID int64  `db:"user_id"`
		NIdent int    `db:"n_identities"`
	}
	err := p.tx.SelectContext(ctx, &rows, `SELECT i.kind, i.scope, i.key, i.id, i.user_id, m.n_identities
FROM unnest($1::text[], $2::text[], $3::text[]) AS x(k, s, v)
JOIN identities i ON i.kind = x.k AND i.scope = x.s AND i.key = x.v
JOIN marketing_users m ON m.id = i.user_id`, pq.Array(kinds), pq.Array(scopes), pq.Array(keys))
	if err != nil {
		return fmt.Errorf("sync: look up keys: %w", err)
	}
	p.owner, p.ident, p.nIdent = map[string]int64{}, map[string]int64{}, map[int64]int{}
	for _, r := range rows {
		k := bulkKey(r.Kind, r.Scope, r.Key)
		p.owner[k], p.ident[k], p.nIdent[r.UserID] = r.UserID, r.ID, r.NIdent
	}
	return nil
}

// classify decides, per observation, whether the set-based path may write it.
func (p *bulkPage) classify() {
	uses := map[string]int{}
	for _, it := range p.items {
		for j := range it.a.keys {
			uses[bulkKey(it.a.kinds[j], it.a.scopes[j], it.a.keys[j])]++
		}
	}
	for _, it := range p.items {
		it.class = p.classOf(it, uses)
	}
}

func (p *bulkPage) classOf(it *bulkItem, uses map[string]int) bulkClass {
	it.idIDs = make([]int64, len(it.a.keys))
	owners := map[int64]bool{}
	newUnion, fresh := false, 0
	for j := range it.a.keys {
		k := bulkKey(it.a.kinds[j], it.a.scopes[j], it.a.keys[j])
		if uses[k] > 1 || it.a.kinds[j] == string(KindPhone) {
			return classFallback
		}
		if u, ok := p.owner[k]; ok {
			owners[u] = true
			it.user, it.idIDs[j] = u, p.ident[k]
			continue
		}
		fresh++
		newUnion = newUnion || it.a.kinds[j] == string(KindUnionID)
	}
	switch {
	case len(owners) == 0:
		return classNew
	case len(owners) > 1:
		return classFallback
	case fresh == 0:
		return classKnown
	case !newUnion && p.nIdent[it.user]+fresh <= p.maxIdnt:
		return classAttach
	}
	return classFallback
}

// writeNew creates the users of new observations and the identities of new
// and attaching ones, with identity_link's edges: a new user's identities
// hang off its strongest one, an attaching identity off the first known one.
func (p *bulkPage) writeNew(ctx context.Context, st *linkStats) error {
	var nUsers, nIdents int
	for _, it := range p.items {
		switch it.class {
		case classNew:
			nUsers++
			nIdents += len(it.a.keys)
		case classAttach:
			for _, id := range it.idIDs {
				if id == 0 {
					nIdents++
				}
			}
		}
	}
	if nIdents == 0 {
		return nil
	}
	userIDs, err := p.nextvals(ctx, "marketing_users", nUsers)
	if err != nil {
		return err
	}
	identIDs, err := p.nextvals(ctx, "identities", nIdents)
	if err != nil {
		return err
	}
	var w identityRows
	var users, attachUsers []int64
	var usersN, attachN []int
	for _, it := range p.items {
		switch it.class {
		case classNew:
			it.user, userIDs = userIDs[0], userIDs[1:]
			users, usersN = append(users, it.user), append(usersN, len(it.a.keys))
			st.Created++
		case classAttach:
			st.Attached++
		default:
			continue
		}
		added := 0
		anchor := firstNonZero(it.idIDs)
		for j, id := range it.idIDs {
			if id != 0 {
				continue
			}
			it.idIDs[j], identIDs = identIDs[0], identIDs[1:]
			if anchor == 0 {
				anchor = it.idIDs[j]
			}
			w.add(it, j, anchor)
			added++
		}
		if it.class == classAttach {
			attachUsers, attachN = append(attachUsers, it.user), append(attachN, added)
		}
	}
	if len(users) > 0 {
		if _, err := p.tx.ExecContext(ctx, `INSERT INTO marketing_users (id, n_identities)
SELECT * FROM unnest($1::bigint[], $2::int[])`, pq.Array(users), pq.Array(usersN)); err != nil {
			return fmt.Errorf("sync: insert users: %w", err)
		}
	}
	if err := w.insert(ctx, p.tx); err != nil {
		return err
	}
	if len(attachUsers) == 0 {
		return nil
	}
	_, err = p.tx.ExecContext(ctx, `UPDATE marketing_users m SET n_identities = m.n_identities + x.n, updated_at = now()
FROM (SELECT u, sum(n)::int AS n FROM unnest($1::bigint[], $2::int[]) AS y(u, n) GROUP BY u) x WHERE m.id = x.u`,
		pq.Array(attachUsers), pq.Array(attachN))
	if err != nil {
		return fmt.Errorf("sync: count identities: %w", err)
	}
	return nil
}

func firstNonZero(v []int64) int64 {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}

func (p *bulkPage) nextvals(ctx context.Context, table string, n int) ([]int64, error) {
	var out []int64
	if n == 0 {
		return out, nil
	}
	err := p.tx.SelectContext(ctx, &out, `SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)`, table, n)
	if err != nil {
		return nil, fmt.Errorf("sync: allocate %s ids: %w", table, err)
	}
	return out, nil
}

// identityRows collects new identity rows as parallel arrays.
type identityRows struct {
	id, user, linked        []int64
	kind, scope, key, attrs []string
	source, ref, at         []string
	verified                []bool
}

func (w *identityRows) add(it *bulkItem, j int, anchor int64) {
	var edge int64
	if anchor != it.idIDs[j] {
		edge = anchor
	}
	w.id, w.user, w.linked = append(w.id, it.idIDs[j]), append(w.user, it.user), append(w.linked, edge)
	w.kind, w.scope, w.key = append(w.kind, it.a.kinds[j]), append(w.scope, it.a.scopes[j]), append(w.key, it.a.keys[j])
	w.attrs, w.verified = append(w.attrs, it.a.attrs[j]), append(w.verified, it.a.verified[j])
	w.source, w.ref = append(w.source, it.a.source), append(w.ref, it.a.ref)
	w.at = append(w.at, it.a.at.UTC().Format(time.RFC3339Nano))
}

func (w *identityRows) insert(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO identities (id, user_id, kind, scope, key, verified, attrs, linked_to,
    seen_with, ev_source, ev_ref, ev_verified, first_seen, last_seen)
SELECT x.id, x.u, x.k, x.s, x.v, x.ver, x.a::jsonb, nullif(x.l, 0), nullif(x.l, 0), x.src, x.ref, x.ver, x.at, x.at
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::bigint[],
            $9::text[], $10::text[], $11::timestamptz[]) AS x(id, u, k, s, v, ver, a, l, src, ref, at)`,
		pq.Array(w.id), pq.Array(w.user), pq.Array(w.kind), pq.Array(w.scope), pq.Array(w.key), pq.Array(w.verified),
		pq.Array(w.attrs), pq.Array(w.linked), pq.Array(w.source), pq.Array(w.ref), pq.Array(w.at))
	if err != nil {
		return fmt.Errorf("sync: insert identities: %w", err)
	}
	return nil
}

// refreshKnown merges new attributes (a renamed customer) into known
// identities, as identity_link does, and touches nothing that did not change.
func (p *bulkPage) refreshKnown(ctx context.Context) error {
	var ids []int64
	var attrs []string
	var verified []bool
	for _, it := range p.items {
		if it.class != classKnown && it.class != classAttach {
			continue
		}
		for j, id := range it.idIDs {
			ids, attrs, verified = append(ids, id), append(attrs, it.a.attrs[j]), append(verified, it.a.verified[j])
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := p.tx.ExecContext(ctx, `UPDATE identities i SET attrs = i.attrs || x.a::jsonb, verified = i.verified OR x.ver
FROM unnest($1::bigint[], $2::text[], $3::boolean[]) AS x(id, a, ver)
WHERE i.id = x.id AND (NOT i.attrs @> x.a::jsonb OR (x.ver AND NOT i.verified))`,
		pq.Array(ids), pq.Array(attrs), pq.Array(verified))
	if err != nil {
		return fmt.Errorf("sync: refresh identities: %w", err)
	}
	return nil
}

// insertMoments records the moments of every set-based observation; dedup
// keys make a re-run insert nothing.
func (p *bulkPage) insertMoments(ctx context.Context, st *linkStats) error {
	var ident []int64
	var kind, at, ch, emp, title, det, dk []string
	for _, it := range p.items {
		if it.class == classFallback {
			continue
		}
		a := it.a
		for m, idx := range a.mIdx {
			ident = append(ident, it.idIDs[idx-1])
			kind, at, ch = append(kind, a.mKinds[m]), append(at, a.mAt[m]), append(ch, a.mCh[m])
			emp, title, det, dk = append(emp, a.mEmp[m]), append(title, a.mTitle[m]), append(det, a.mDet[m]), append(dk, a.mDedup[m])
		}
	}
	if len(ident) == 0 {
		return nil
	}
	res, err := p.tx.ExecContext(ctx, `INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, detail, dedup_key)
SELECT x.i, x.k, x.at, x.ch, x.em, x.ti, x.de::jsonb, x.dk
FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
     AS x(i, k, at, ch, em, ti, de, dk)
ON CONFLICT (dedup_key) DO NOTHING`,
		pq.Array(ident), pq.Array(kind), pq.Array(at), pq.Array(ch), pq.Array(emp), pq.Array(title), pq.Array(det), pq.Array(dk))
	if err != nil {
		return fmt.Errorf("sync: insert moments: %w", err)
	}
	n, _ := res.RowsAffected()
	st.Moments += n
	for _, it := range p.items {
		if it.class == classKnown {
			st.Known++
		}
	}
	return nil
}

// fallback links the remaining observations one by one with identity_link,
// in the page's transaction (the locks it takes are already held).
func (p *bulkPage) fallback(ctx context.Context, st *linkStats) error {
	for _, it := range p.items {
		if it.class != classFallback {
			continue
		}
		st.Fallback++
		r, err := p.ids.link(ctx, p.tx, it.a, it.n)
		if err != nil {
			return err
		}
		if r.Outcome != OutcomeAttached {
			st.Created++
		}
	}
	return nil
}
