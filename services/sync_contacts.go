package services

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// syncChunk is one batch/get_by_user stream: ≤100 members and the cursor
// after the last written page.
type syncChunk struct {
	Chunk   int            `db:"chunk"`
	UserIDs pq.StringArray `db:"userids"`
	Cursor  string         `db:"cursor"`
}

// syncContacts mirrors every customer relation of the members with customer
// contact enabled. The members are split into chunks (≤100 userids); up to
// Concurrency chunks stream at once, each fetching its next page while the
// previous one is written, and each page commits with its cursor.
func (r *syncRun) syncContacts(ctx context.Context) error {
	chunks, err := r.contactChunks(ctx)
	if err != nil {
		return err
	}
	work := make(chan syncChunk)
	errs := make(chan error, len(chunks))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(max(r.s.Concurrency, 1), max(len(chunks), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range work {
				if err := r.streamChunk(ctx, ch); err != nil {
					errs <- err
					cancel()
				}
			}
		}()
	}
feed:
	for _, ch := range chunks {
		select {
		case work <- ch:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// contactChunks returns the job's unfinished chunks, planning them on the
// first run: the members come from get_follow_user_list, and the chunk size
// spreads them over the streams (a corp of 20 members gets 4 streams of 5).
func (r *syncRun) contactChunks(ctx context.Context) ([]syncChunk, error) {
	var n int
	if err := r.s.db.GetContext(ctx, &n, `SELECT count(*) FROM sync_job_chunks WHERE job_id = $1`, r.job.ID); err != nil {
		return nil, fmt.Errorf("sync: chunks: %w", err)
	}
	if n == 0 {
		if err := r.planChunks(ctx); err != nil {
			return nil, err
		}
	}
	var out []syncChunk
	err := r.s.db.SelectContext(ctx, &out, `SELECT chunk, userids, cursor FROM sync_job_chunks
WHERE job_id = $1 AND NOT done ORDER BY chunk`, r.job.ID)
	if err != nil {
		return nil, fmt.Errorf("sync: chunks: %w", err)
	}
	return out, nil
}

func (r *syncRun) planChunks(ctx context.Context) error {
	var members []string
	err := r.call(ctx, func() (err error) { members, err = r.t.Client.FollowUsers(ctx); return err })
	if err != nil {
		return err
	}
	size := min(100, max(1, (len(members)+r.s.Concurrency-1)/max(r.s.Concurrency, 1)))
	return withTx(ctx, r.s.db, func(tx *sqlx.Tx) error {
		for i := 0; i < len(members); i += size {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sync_job_chunks (job_id, chunk, userids) VALUES ($1, $2, $3)`,
				r.job.ID, i/size, pq.Array(members[i:min(i+size, len(members))])); err != nil {
				return fmt.Errorf("sync: plan chunks: %w", err)
			}
		}
		// The progress bar's total: what the last complete sync received,
		// else what the mirror holds; unknown (0) on a first sync.
		_, err := tx.ExecContext(ctx, `UPDATE sync_jobs SET planned = greatest(
  coalesce((SELECT received FROM sync_jobs WHERE corp_id = $2 AND kind = 'contacts' AND state = 'done' AND error = ''
            ORDER BY id DESC LIMIT 1), 0),
  (SELECT count(*) FROM wecom_follows WHERE corp_id = $2 AND deleted_at IS NULL)) WHERE id = $1`, r.job.ID, r.t.CorpID)
		return err
	})
}

// contactPage is one page of batch/get_by_user and the cursor after it.
type contactPage struct {
	rows []wecom.ContactRelation
	next string
}

// streamChunk pages through one chunk: a fetcher goroutine reads page n+1
// while page n is written; a page and its cursor commit together.
func (r *syncRun) streamChunk(ctx context.Context, ch syncChunk) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan contactPage, 1)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(pages)
		fetchErr <- r.fetchPages(ctx, ch, pages)
	}()
	for p := range pages {
		if err := r.writeContactsPage(ctx, ch.Chunk, p); err != nil {
			return err
		}
	}
	if err := <-fetchErr; err != nil {
		return err
	}
	return ctx.Err()
}

func (r *syncRun) fetchPages(ctx context.Context, ch syncChunk, out chan<- contactPage) error {
	cursor := ch.Cursor
	for {
		var p contactPage
		err := r.call(ctx, func() (err error) {
			p.rows, p.next, err = r.t.Client.BatchGetByUser(ctx, ch.UserIDs, cursor, r.s.PageSize)
			return err
		})
		if err != nil {
			return err
		}
		if p.next == cursor {
			p.next = "" // a cursor that does not move would loop forever
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.next == "" {
			return nil
		}
		cursor = p.next
	}
}

// writeContactsPage writes one page in one transaction: the mirror rows, the
// links and wecom_added moments, the per-member counts and the checkpoint.
func (r *syncRun) writeContactsPage(ctx context.Context, chunk int, p contactPage) error {
	obs := make([]Observation, 0, len(p.rows))
	for _, row := range p.rows {
		obs = append(obs, r.contactObservation(row))
	}
	return r.s.withPageTx(ctx, func(tx *sqlx.Tx) error {
		changed, err := r.s.mirrorRelations(ctx, tx, r.t.CorpID, p.rows)
		if err != nil {
			return err
		}
		st, err := linkPage(ctx, tx, r.s.ids, obs)
		if err != nil {
			return err
		}
		return r.checkpoint(ctx, tx, chunk, p, changed+st.changes())
	})
}

// contactObservation turns one relation into the keys it brings (the
// external_userid, the unionid, the remark phones typed by the employee, so
// unverified) and its wecom_added moment. The dedup key is the callback
// handler's (kind, corp, member, customer, time), with the relation's
// createtime, so the add seen by a callback and by a sync is one moment.
func (r *syncRun) contactObservation(row wecom.ContactRelation) Observation {
	c, f := row.Contact, row.Follow
	at := time.Unix(f.CreateTime, 0)
	if f.CreateTime == 0 {
		at = r.s.now()
	}
	ids := []IdentityInput{{Kind: KindExternalUserID, Scope: r.t.CorpID, Key: c.ExternalUserID,
		Attrs: Attributes{Name: c.Name, Avatar: c.Avatar, Company: c.CorpName}}}
	if c.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: c.UnionID, Attrs: Attributes{Nickname: c.Name}})
	}
	for _, ph := range f.RemarkMobiles {
		if _, err := NormalizePhone(ph); err == nil {
			ids = append(ids, IdentityInput{Kind: KindPhone, Key: ph})
		}
	}
	m := MomentInput{Kind: "wecom_added", OccurredAt: at, Channel: f.State, EmployeeUserID: f.UserID,
		Title:    "添加了企业微信",
		Detail:   detail("state", f.State, "add_way", f.AddWay, "source", "sync"),
		DedupKey: contactAddedKey(r.t.CorpID, f.UserID, c.ExternalUserID, f.CreateTime)}
	return Observation{Source: "sync", Ref: fmt.Sprintf("sync:%d", r.job.ID), OccurredAt: at, Identities: ids,
		Moments: []MomentInput{m}}
}

// checkpoint records, in the page's transaction, the relations WeCom listed
// per member (for the reconciliation report), the chunk's cursor and the
// job's progress, in one statement.
func (r *syncRun) checkpoint(ctx context.Context, tx *sqlx.Tx, chunk int, p contactPage, changed int64) error {
	per := map[string]int{}
	for _, row := range p.rows {
		per[row.Follow.UserID]++
	}
	users, counts := make([]string, 0, len(per)), make([]int64, 0, len(per))
	for u, n := range per {
		users, counts = append(users, u), append(counts, int64(n))
	}
	_, err := tx.ExecContext(ctx, `WITH counts AS (
  INSERT INTO sync_job_counts AS c (job_id, userid, remote)
  SELECT $1, u, n FROM unnest($2::text[], $3::int[]) AS x(u, n)
  ON CONFLICT (job_id, userid) DO UPDATE SET remote = c.remote + EXCLUDED.remote RETURNING 1),
cursor AS (
  UPDATE sync_job_chunks SET cursor = $5, pages = pages + 1, done = ($5 = '') WHERE job_id = $1 AND chunk = $4 RETURNING 1)
UPDATE sync_jobs SET finished = finished + $6, received = received + $6, changed = changed + $7,
    retries = retries + $8, updated_at = now() WHERE id = $1`,
		r.job.ID, pq.Array(users), pq.Array(counts), chunk, p.next, len(p.rows), changed, r.retries.Swap(0))
	if err != nil {
		return fmt.Errorf("sync: checkpoint: %w", err)
	}
	return nil
}
