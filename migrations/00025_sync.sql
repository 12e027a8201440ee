-- +goose Up
-- Checkpointed synchronisation of the WeCom mirror (issue 7, part b).
--
-- A sync job is one run of one kind (employees, contacts, groups, tags, fans)
-- for one corp. At most one job of a kind is open (running or failed) per
-- corp: a failed or interrupted job is resumed from its checkpoint by the next
-- run instead of starting over. While a job runs, its runner also holds a
-- session advisory lock, so two instances never run the same kind at once and
-- a crashed runner's lock goes with its connection.
CREATE TABLE sync_jobs (
    id          bigserial PRIMARY KEY,
    corp_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('employees', 'contacts', 'groups', 'tags', 'fans')),
    state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'failed', 'done')),
    -- progress: units of work planned and finished (pages for contacts,
    -- employees, chats, followers), and rows received and written
    planned     integer NOT NULL DEFAULT 0,
    finished    integer NOT NULL DEFAULT 0,
    received    bigint NOT NULL DEFAULT 0,
    changed     bigint NOT NULL DEFAULT 0,
    retries     integer NOT NULL DEFAULT 0,
    attempts    integer NOT NULL DEFAULT 1,  -- runs (1 + resumes)
    -- kind-specific checkpoint (fans: the next_openid to continue from)
    checkpoint  jsonb NOT NULL DEFAULT '{}',
    -- the reconciliation report, set when the job is done
    report      jsonb,
    error       text NOT NULL DEFAULT '',
    started_by  text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE UNIQUE INDEX sync_jobs_open ON sync_jobs (corp_id, kind) WHERE state <> 'done';
CREATE INDEX sync_jobs_recent ON sync_jobs (corp_id, kind, id DESC);

-- The contacts sync splits the members into chunks of ≤100 userids (one
-- batch/get_by_user stream each); cursor is the checkpoint of a chunk,
-- written in the same transaction as the page it follows.
CREATE TABLE sync_job_chunks (
    job_id  bigint NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    chunk   integer NOT NULL,
    userids text[] NOT NULL,
    cursor  text NOT NULL DEFAULT '',
    pages   integer NOT NULL DEFAULT 0,
    done    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, chunk)
);

-- What WeCom reported per member during a job (relations received), added
-- up page by page in the page's transaction, for the reconciliation report.
CREATE TABLE sync_job_counts (
    job_id bigint NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    userid text NOT NULL,
    remote integer NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, userid)
);

-- sync_lock_keys takes the transaction advisory locks of identity keys in
-- the order identity_link takes them (sorted hashes of kind, scope, key), so
-- a sync page that links many observations at once and the one-by-one link
-- function never deadlock on each other.
-- +goose StatementBegin
CREATE FUNCTION sync_lock_keys(p_kinds text[], p_scopes text[], p_keys text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h bigint;
BEGIN
    FOR h IN SELECT DISTINCT hashtextextended(k || chr(31) || s || chr(31) || v, 0)
               FROM unnest(p_kinds, p_scopes, p_keys) AS x(k, s, v) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION sync_lock_keys(text[], text[], text[]);
DROP TABLE sync_job_counts;
DROP TABLE sync_job_chunks;
DROP TABLE sync_jobs;
