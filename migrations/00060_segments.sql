-- +goose Up
-- Segments (issue 10): saved filters over marketing users. filter is the
-- services.SegmentFilter as JSON; the service compiles it into one
-- parameterised query, so no value in it ever becomes SQL text.
CREATE TABLE segments (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    filter     jsonb NOT NULL DEFAULT '{}',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- "Active within N days" / "no activity since a date" look up moments by
-- time first: without this the count scans every moment at 100k users.
CREATE INDEX moments_occurred ON moments (occurred_at, identity_id);
-- Identity-kind filters probe identities per (user, kind).
CREATE INDEX identities_user_kind ON identities (user_id, kind);
-- Channel filters probe relations by state (wecom_follows_state covers
-- state; this covers the tag filter's tag overlap).
CREATE INDEX wecom_follows_tags ON wecom_follows USING gin (tag_ids) WHERE deleted_at IS NULL;
CREATE INDEX member_level_state_level ON member_level_state (level_id, user_id);
-- The channel filter also matches moments' channel (e.g. an OA QR scene).
CREATE INDEX moments_channel ON moments (channel, identity_id) WHERE channel <> '';

-- +goose Down
DROP INDEX moments_channel;
DROP INDEX member_level_state_level;
DROP INDEX wecom_follows_tags;
DROP INDEX identities_user_kind;
DROP INDEX moments_occurred;
DROP TABLE segments;
