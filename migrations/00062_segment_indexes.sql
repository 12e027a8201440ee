-- +goose Up
-- Segment counts at 100k users (EXPLAIN in services/segments_bench_test.go)
-- read "the users having an identity kind" as a whole (hash semi/anti
-- joins), never per user: (kind, user_id) serves that as an index-only
-- scan, while 00060's (user_id, kind) was never chosen and only slowed the
-- identity engine's inserts.
DROP INDEX identities_user_kind;
CREATE INDEX identities_kind_user ON identities (kind, user_id);
-- "registered for form F" reads F's submissions' identities without
-- visiting moments (moments_material also holds views and sends, and
-- needs the heap to tell them apart).
CREATE INDEX moments_form_submitted ON moments ((detail ->> 'form_id'), identity_id) WHERE kind = 'form_submitted';

-- +goose Down
DROP INDEX moments_form_submitted;
DROP INDEX identities_kind_user;
CREATE INDEX identities_user_kind ON identities (user_id, kind);
