-- +goose Up
-- Member level → WeCom corp tag sync (issue 8). A level may be bound to a
-- corp tag (member_levels.corp_tag_id). When a member's level changes, the
-- level change queues a job here in its own transaction; a worker then marks
-- the level's tag and unmarks the other levels' tags on every WeCom relation
-- of the member (mark_tag), outside any transaction, and retries with backoff.
-- A job that keeps failing stops as 'failed' and is shown on the members
-- page with WeCom's error, where an admin can retry it.
CREATE TABLE member_tag_jobs (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL,  -- marketing user when queued; resolved again when run
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    -- bumped by every new request for the same user while the job is
    -- pending, so a run that read older state does not close the job
    generation  integer NOT NULL DEFAULT 0,
    -- tags to unmark besides the other levels' tags: a level's previous tag
    -- after it was rebound or unbound
    remove_tags text[] NOT NULL DEFAULT '{}',
    attempts    integer NOT NULL DEFAULT 0,
    run_after   timestamptz NOT NULL DEFAULT now(),  -- backoff after a failure
    leased_until timestamptz,                        -- a worker is running it
    last_error  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- one open job per member: requests while it is open fold into it
CREATE UNIQUE INDEX member_tag_jobs_open ON member_tag_jobs (user_id) WHERE state = 'pending';
CREATE INDEX member_tag_jobs_due ON member_tag_jobs (run_after) WHERE state = 'pending';
CREATE INDEX member_tag_jobs_failed ON member_tag_jobs (updated_at) WHERE state = 'failed';

-- +goose Down
DROP TABLE member_tag_jobs;
