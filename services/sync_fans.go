package services

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/marketing-assistant/assistant/services/wecom"
)

// fansCheckpoint is where a fans sync continues: the next_openid of the
// first user/get page not yet fully written.
type fansCheckpoint struct {
	NextOpenID string `json:"next_openid"`
}

// syncFans mirrors the Official Account followers: user/get (10,000 openids
// a page), then user/info/batchget (100 at a time, Concurrency in parallel)
// for the unionid, linking oa_openid + unionid with an oa_subscribed moment
// (the callback handler's dedup key with the subscribe time). The checkpoint
// moves after each user/get page is written.
func (r *syncRun) syncFans(ctx context.Context) error {
	var cp fansCheckpoint
	_ = json.Unmarshal(r.job.Checkpoint, &cp)
	next := cp.NextOpenID
	for {
		var ids []string
		var after string
		var total int
		err := r.call(ctx, func() (err error) { ids, after, total, err = r.t.Client.OAFollowers(ctx, next); return err })
		if err != nil {
			return err
		}
		if err := r.progress(ctx, r.s.db, int64(total), 0, 0, 0); err != nil {
			return err
		}
		if err := r.writeFanPage(ctx, ids); err != nil {
			return err
		}
		body, _ := json.Marshal(fansCheckpoint{NextOpenID: after})
		if _, err := r.s.db.ExecContext(ctx, `UPDATE sync_jobs SET checkpoint = $2 WHERE id = $1`, r.job.ID, body); err != nil {
			return fmt.Errorf("sync: fans checkpoint: %w", err)
		}
		if after == "" {
			return nil
		}
		next = after
	}
}

// writeFanPage reads and writes one user/get page in batches of 100.
func (r *syncRun) writeFanPage(ctx context.Context, ids []string) error {
	sem := make(chan struct{}, max(r.s.Concurrency, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := 0; i < len(ids); i += 100 {
		batch := ids[i:min(i+100, len(ids))]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.writeFans(ctx, batch); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}

func (r *syncRun) writeFans(ctx context.Context, openIDs []string) error {
	var users []wecom.OAUser
	if err := r.call(ctx, func() (err error) { users, err = r.t.Client.OAUsersBatch(ctx, openIDs); return err }); err != nil {
		return err
	}
	obs := make([]Observation, 0, len(users))
	for _, u := range users {
		if u.Subscribe {
			obs = append(obs, r.fanObservation(u))
		}
	}
	return r.s.withPageTx(ctx, func(tx *sqlx.Tx) error {
		n, err := saveFollowers(ctx, tx, r.t.CorpID, r.t.OAAppID, users)
		if err != nil {
			return err
		}
		st, err := linkPage(ctx, tx, r.s.ids, obs)
		if err != nil {
			return err
		}
		return r.progress(ctx, tx, 0, int64(len(users)), int64(len(users)), n+st.changes())
	})
}

func fanScene(u wecom.OAUser) string {
	if u.QRSceneStr != "" {
		return u.QRSceneStr
	}
	if u.QRScene != 0 {
		return fmt.Sprint(u.QRScene)
	}
	return ""
}

func (r *syncRun) fanObservation(u wecom.OAUser) Observation {
	at := time.Unix(u.SubscribeTime, 0)
	ids := []IdentityInput{{Kind: KindOAOpenID, Scope: r.t.OAAppID, Key: u.OpenID}}
	if u.UnionID != "" {
		ids = append(ids, IdentityInput{Kind: KindUnionID, Key: u.UnionID})
	}
	eventKey := ""
	if s := fanScene(u); s != "" {
		eventKey = "qrscene_" + s
	}
	m := MomentInput{Kind: "oa_subscribed", OccurredAt: at, Channel: strings.TrimPrefix(eventKey, "qrscene_"),
		Title:    "关注了公众号",
		Detail:   detail("scene", u.SubscribeScene, "source", "sync"),
		DedupKey: subscribedKey(r.t.OAAppID, u.OpenID, u.SubscribeTime)}
	return Observation{Source: "sync", Ref: fmt.Sprintf("sync:%d", r.job.ID), OccurredAt: at, Identities: ids,
		Moments: []MomentInput{m}}
}

func saveFollowers(ctx context.Context, tx *sqlx.Tx, corp, app string, users []wecom.OAUser) (int64, error) {
	var ids, unions, scenes, qrs []string
	var subs []bool
	var at []*time.Time
	for _, u := range users {
		ids, unions, scenes, qrs = append(ids, u.OpenID), append(unions, u.UnionID), append(scenes, u.SubscribeScene), append(qrs, fanScene(u))
		subs = append(subs, u.Subscribe)
		var t *time.Time
		if u.SubscribeTime > 0 {
			tt := time.Unix(u.SubscribeTime, 0)
			t = &tt
		}
		at = append(at, t)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO oa_followers AS f (corp_id, app_id, openid, unionid, subscribed,
    subscribe_time, subscribe_scene, qr_scene)
SELECT DISTINCT ON (x.o) $1, $2, x.* FROM unnest($3::text[], $4::text[], $5::boolean[], $6::timestamptz[], $7::text[], $8::text[])
    AS x(o, u, s, t, sc, qr)
ON CONFLICT (corp_id, app_id, openid) DO UPDATE SET unionid = coalesce(nullif(EXCLUDED.unionid, ''), f.unionid),
    subscribed = EXCLUDED.subscribed, subscribe_time = coalesce(EXCLUDED.subscribe_time, f.subscribe_time),
    subscribe_scene = EXCLUDED.subscribe_scene, qr_scene = EXCLUDED.qr_scene,
    unsubscribed_at = CASE WHEN EXCLUDED.subscribed THEN NULL ELSE coalesce(f.unsubscribed_at, now()) END,
    synced_at = now(), updated_at = now()
WHERE (f.subscribed, f.subscribe_time, f.subscribe_scene, f.qr_scene)
      IS DISTINCT FROM (EXCLUDED.subscribed, coalesce(EXCLUDED.subscribe_time, f.subscribe_time),
                        EXCLUDED.subscribe_scene, EXCLUDED.qr_scene)
   OR (EXCLUDED.unionid <> '' AND EXCLUDED.unionid <> f.unionid)`,
		corp, app, pq.Array(ids), pq.Array(unions), pq.Array(subs), pq.Array(at), pq.Array(scenes), pq.Array(qrs))
	if err != nil {
		return 0, fmt.Errorf("sync: upsert followers: %w", err)
	}
	return res.RowsAffected()
}
