-- +goose Up
-- Automation rules (issue 10): "when a moment of kind K happens (on form F,
-- from channel C), then add a corp tag / notify the following employee /
-- assign an employee / add growth points".
--
-- How moments reach the rule workers: moments are inserted by many paths
-- (identity_link for forms and the CRM API, the callback handlers, the sync,
-- member growth, merges), several of them inside one SQL statement. A trigger
-- on moments is the one place all of them pass, and it runs in the inserting
-- transaction, so a moment and its queued executions commit together (no
-- lost or phantom work, which an application-side outbox would need every
-- path to remember). It is a statement trigger (one call per INSERT, not per
-- row: the sync inserts thousands at once), switched off altogether while no
-- rule is enabled (00071, services/automation_trigger.go), so moments then
-- cost nothing extra; on, it matches the inserted rows against the enabled
-- rules in one query (cost measured in services/automation_bench_test.go).

CREATE TABLE automation_rules (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    enabled          boolean NOT NULL DEFAULT true,
    -- moments before this are history: a rule acts only on moments that
    -- happen after it was (re-)enabled
    active_since     timestamptz NOT NULL DEFAULT now(),
    moment_kind      text NOT NULL CHECK (moment_kind <> 'automation_action'),
    form_id          bigint,                    -- only moments of this form (detail.form_id)
    channel          text NOT NULL DEFAULT '',  -- only moments from this channel ('' = any)
    action           text NOT NULL CHECK (action IN ('tag', 'notify', 'assign', 'growth')),
    tag_id           text NOT NULL DEFAULT '',
    tag_name         text NOT NULL DEFAULT '',
    employees        text[] NOT NULL DEFAULT '{}', -- assign: the candidates
    max_per_employee integer NOT NULL DEFAULT 500 CHECK (max_per_employee > 0),
    points           integer NOT NULL DEFAULT 0,
    created_by       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automation_rules_enabled ON automation_rules (moment_kind) WHERE enabled;

-- One row per (rule, moment): the primary key is what makes a rule fire at
-- most once per moment whatever replays, retries or concurrent workers do.
-- The row is also the work item (claimed with FOR UPDATE SKIP LOCKED and a
-- lease) and its outcome.
CREATE TABLE automation_executions (
    rule_id         bigint NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    moment_id       bigint NOT NULL, -- no foreign key: erasure may delete the moment
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'skipped', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    -- set before message/send and cleared when its answer is recorded: found
    -- set by a later attempt, the send's outcome is unknown (crash)
    sending_since   timestamptz,
    outcome         text NOT NULL DEFAULT '',
    errcode         integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (rule_id, moment_id)
);
CREATE INDEX automation_executions_due ON automation_executions (next_attempt_at) WHERE state = 'pending';

-- Customers assigned to employees by rules; one current advisor per
-- marketing user. Load = rows per employee.
CREATE TABLE automation_assignments (
    user_id     bigint PRIMARY KEY,
    corp_id     text NOT NULL,
    userid      text NOT NULL,
    rule_id     bigint NOT NULL,
    moment_id   bigint NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automation_assignments_employee ON automation_assignments (corp_id, userid);

-- The timeline kind of what rules did. The kind list is widened in place
-- (not restated) so that other features' added kinds survive in any order.
-- +goose StatementBegin
DO $$
DECLARE def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = 'moments'::regclass AND conname = 'moments_kind_check';
    IF def IS NULL OR position('automation_action' IN def) > 0 THEN
        RETURN;
    END IF;
    EXECUTE 'ALTER TABLE moments DROP CONSTRAINT moments_kind_check';
    EXECUTE 'ALTER TABLE moments ADD CONSTRAINT moments_kind_check '
        || replace(def, 'ARRAY[', 'ARRAY[''automation_action''::text, ') || ' NOT VALID';
    EXECUTE 'ALTER TABLE moments VALIDATE CONSTRAINT moments_kind_check';
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION automation_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM automation_rules WHERE enabled) THEN
        RETURN NULL;
    END IF;
    -- automation_action moments never match: a rule's own action must not
    -- fire rules again (loops)
    INSERT INTO automation_executions (rule_id, moment_id)
    SELECT r.id, m.id
    FROM new_moments m
    JOIN automation_rules r ON r.enabled AND r.moment_kind = m.kind
    WHERE m.kind <> 'automation_action'
      AND (r.form_id IS NULL OR m.detail ->> 'form_id' = r.form_id::text)
      AND (r.channel = '' OR m.channel = r.channel OR m.detail ->> 'channel' = r.channel)
      -- a moment recorded now about long ago (a sync importing old
      -- relations) is history too; a minute absorbs WeCom's clock
      AND m.occurred_at >= r.active_since - interval '1 minute'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER automation_enqueue AFTER INSERT ON moments
    REFERENCING NEW TABLE AS new_moments
    FOR EACH STATEMENT EXECUTE FUNCTION automation_enqueue();

-- +goose Down
DROP TRIGGER automation_enqueue ON moments;
DROP FUNCTION automation_enqueue();
DROP TABLE automation_assignments;
DROP TABLE automation_executions;
DROP TABLE automation_rules;
