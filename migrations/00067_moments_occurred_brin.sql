-- +goose Up
-- 00060's btree on moments (occurred_at, identity_id) let the planner walk
-- a user's timeline through it (newest first, filtering identities) instead
-- of one probe per identity on moments_timeline: the timeline of a
-- 100k-moment user went from 0.72 to 1.3 ms a page. The segments' "active
-- within N days" / "no activity since" filters only need the moments of a
-- time range, which a BRIN index finds (moments arrive roughly in time
-- order) without offering an order the timeline could be planned on, and at
-- a fraction of a btree's cost per insert.
DROP INDEX moments_occurred;
CREATE INDEX moments_occurred_brin ON moments USING brin (occurred_at);

-- +goose Down
DROP INDEX moments_occurred_brin;
CREATE INDEX moments_occurred ON moments (occurred_at, identity_id);
