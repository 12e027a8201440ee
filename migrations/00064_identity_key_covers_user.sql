-- +goose Up
-- identity_link plans its statements once per connection (00003/00004), and
-- a plan made while identities is nearly empty picked 00062's (kind,
-- user_id) index for the key lookup (its cost looked the same as the unique
-- key's): every link then read all identities of a kind, slower with every
-- row, until an autoanalyze replanned it. The unique key now carries
-- user_id, so
--   * the link's lookup is an index-only probe of the one index that can
--     answer it, and no other index leads with kind;
--   * the segments' "has an identity of kind K" reads (kind, user_id) pairs
--     from it as an index-only scan, which is what 00062's index was for;
--   * identities take one index fewer per insert.
ALTER TABLE identities DROP CONSTRAINT identities_key;
ALTER TABLE identities ADD CONSTRAINT identities_key UNIQUE (kind, scope, key) INCLUDE (user_id);
DROP INDEX identities_kind_user;

-- +goose Down
CREATE INDEX identities_kind_user ON identities (kind, user_id);
ALTER TABLE identities DROP CONSTRAINT identities_key;
ALTER TABLE identities ADD CONSTRAINT identities_key UNIQUE (kind, scope, key);
