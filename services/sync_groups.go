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

// syncGroups mirrors every customer group and its members, and links the
// customer members with a group_joined moment (the callback handler's dedup
// key with the join time). Groups are re-read in full on a resume: each is
// one idempotent transaction, so there is nothing to checkpoint but the list.
func (r *syncRun) syncGroups(ctx context.Context) error {
	refs, err := r.listChats(ctx)
	if err != nil {
		return err
	}
	if err := r.progress(ctx, r.s.db, int64(len(refs)), 0, 0, 0); err != nil {
		return err
	}
	sem := make(chan struct{}, max(r.s.Concurrency, 1))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, ref := range refs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.syncChat(ctx, ref); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// listChats pages through groupchat/list; with more than 1000 visible
// members WeCom wants an owner filter (81017), then the members are asked
// for 100 at a time.
func (r *syncRun) listChats(ctx context.Context) ([]wecom.GroupChatRef, error) {
	refs, err := r.listChatsOf(ctx, nil)
	if !wecom.IsAPIError(err, 81017) {
		return refs, err
	}
	var owners []string
	if err := r.call(ctx, func() (err error) { owners, err = r.t.Client.FollowUsers(ctx); return err }); err != nil {
		return nil, err
	}
	refs = nil
	for i := 0; i < len(owners); i += 100 {
		got, err := r.listChatsOf(ctx, owners[i:min(i+100, len(owners))])
		if err != nil {
			return nil, err
		}
		refs = append(refs, got...)
	}
	return refs, nil
}

func (r *syncRun) listChatsOf(ctx context.Context, owners []string) ([]wecom.GroupChatRef, error) {
	var out []wecom.GroupChatRef
	cursor := ""
	for {
		var page []wecom.GroupChatRef
		var next string
		err := r.call(ctx, func() (err error) { page, next, err = r.t.Client.ListGroupChats(ctx, owners, cursor, 0); return err })
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || next == cursor {
			return out, nil
		}
		cursor = next
	}
}

// syncChat reads one group and writes it with its members and links.
func (r *syncRun) syncChat(ctx context.Context, ref wecom.GroupChatRef) error {
	var g wecom.GroupChat
	if err := r.call(ctx, func() (err error) { g, err = r.t.Client.GetGroupChat(ctx, ref.ChatID); return err }); err != nil {
		return err
	}
	if g.ChatID == "" {
		g.ChatID = ref.ChatID
	}
	var obs []Observation
	for _, m := range g.Members {
		if m.Type == 2 {
			obs = append(obs, r.memberObservation(g, m))
		}
	}
	return r.s.withPageTx(ctx, func(tx *sqlx.Tx) error {
		n, err := saveChat(ctx, tx, r.t.CorpID, ref.Status, g)
		if err != nil {
			return err
		}
		st, err := linkPage(ctx, tx, r.s.ids, obs)
		if err != nil {
			return err
		}
		return r.progress(ctx, tx, 0, 1, int64(len(g.Members)), n+st.changes())
	})
}

func (r *syncRun) memberObservation(g wecom.GroupChat, m wecom.ChatMember) Observation {
	at := time.Unix(m.JoinTime, 0)
	ids := []IdentityInput{{Kind: KindExternalUserID, Scope: r.t.CorpID, Key: m.UserID, Attrs: Attributes{Nickname: m.Name}}}
	if m.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: m.UnionID})
	}
	mo := MomentInput{Kind: "group_joined", OccurredAt: at, Channel: m.State, EmployeeUserID: g.Owner,
		Title:    "加入客户群「" + g.Name + "」",
		Detail:   detail("chat_id", g.ChatID, "chat_name", g.Name, "scene", m.JoinScene, "source", "sync"),
		DedupKey: dedup("group_joined", r.t.CorpID, g.ChatID, m.UserID, m.JoinTime)}
	return Observation{Source: "sync", Ref: fmt.Sprintf("sync:%d", r.job.ID), OccurredAt: at, Identities: ids,
		Moments: []MomentInput{mo}}
}

// saveChat upserts the group and its members and marks members no longer
// present as left; it returns the rows changed.
func saveChat(ctx context.Context, tx *sqlx.Tx, corp string, status int, g wecom.GroupChat) (int64, error) {
	var created *time.Time
	if g.CreateTime > 0 {
		t := time.Unix(g.CreateTime, 0)
		created = &t
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO wecom_group_chats AS g (corp_id, chat_id, name, owner, notice, admins, status, createtime)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (corp_id, chat_id) DO UPDATE SET name = EXCLUDED.name, owner = EXCLUDED.owner, notice = EXCLUDED.notice,
    admins = EXCLUDED.admins, status = EXCLUDED.status, createtime = EXCLUDED.createtime, dismissed_at = NULL,
    synced_at = now(), updated_at = now()
WHERE (g.name, g.owner, g.notice, g.admins, g.status, g.createtime, g.dismissed_at IS NULL)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.owner, EXCLUDED.notice, EXCLUDED.admins, EXCLUDED.status,
                        EXCLUDED.createtime, true)`,
		corp, g.ChatID, g.Name, g.Owner, g.Notice, pq.Array(nonNilStrings(g.Admins)), status, created)
	if err != nil {
		return 0, fmt.Errorf("sync: upsert group: %w", err)
	}
	n, _ := res.RowsAffected()
	m, err := saveChatMembers(ctx, tx, corp, g)
	return n + m, err
}

func saveChatMembers(ctx context.Context, tx *sqlx.Tx, corp string, g wecom.GroupChat) (int64, error) {
	var ids, unions, names, states []string
	var types, scenes []int64
	var joined []*time.Time
	for _, m := range g.Members {
		ids, unions, names, states = append(ids, m.UserID), append(unions, m.UnionID), append(names, m.Name), append(states, m.State)
		types, scenes = append(types, int64(m.Type)), append(scenes, int64(m.JoinScene))
		var jt *time.Time
		if m.JoinTime > 0 {
			t := time.Unix(m.JoinTime, 0)
			jt = &t
		}
		joined = append(joined, jt)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO wecom_group_members AS m (corp_id, chat_id, member_id, type, unionid, name,
    join_time, join_scene, state)
SELECT DISTINCT ON (x.id) $1, $2, x.* FROM unnest($3::text[], $4::smallint[], $5::text[], $6::text[], $7::timestamptz[],
    $8::int[], $9::text[]) AS x(id, t, u, n, jt, js, st)
ON CONFLICT (corp_id, chat_id, member_id) DO UPDATE SET type = EXCLUDED.type, unionid = EXCLUDED.unionid,
    name = EXCLUDED.name, join_time = EXCLUDED.join_time, join_scene = EXCLUDED.join_scene, state = EXCLUDED.state,
    left_at = NULL, updated_at = now()
WHERE (m.type, m.unionid, m.name, m.join_time, m.join_scene, m.state, m.left_at IS NULL)
      IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.unionid, EXCLUDED.name, EXCLUDED.join_time, EXCLUDED.join_scene,
                        EXCLUDED.state, true)`,
		corp, g.ChatID, pq.Array(ids), pq.Array(types), pq.Array(unions), pq.Array(names), pq.Array(joined),
		pq.Array(scenes), pq.Array(states))
	if err != nil {
		return 0, fmt.Errorf("sync: upsert group members: %w", err)
	}
	n, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, `UPDATE wecom_group_members SET left_at = now(), updated_at = now()
WHERE corp_id = $1 AND chat_id = $2 AND left_at IS NULL AND NOT (member_id = ANY ($3))`, corp, g.ChatID, pq.Array(ids))
	if err != nil {
		return 0, fmt.Errorf("sync: group members left: %w", err)
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}
