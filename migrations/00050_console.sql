-- +goose Up
-- The admin console (issue 8): data lifecycle (archive, erasure), promotion
-- tasks, member levels and growth.

-- Marketing users archived for inactivity: out of the active lists, kept
-- whole (un-archiving is deleting the row). A new moment does not un-archive
-- by itself; the next archive run skips users active again.
CREATE TABLE marketing_user_archive (
    user_id       bigint PRIMARY KEY REFERENCES marketing_users (id),
    inactive_days integer NOT NULL,
    archived_by   text NOT NULL DEFAULT '',
    archived_at   timestamptz NOT NULL DEFAULT now()
);

-- Erasures on request: the fact and anonymous counts survive, personal data
-- does not. One row per erased user; never updated.
CREATE TABLE data_erasures (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL UNIQUE REFERENCES marketing_users (id),
    requested_by  text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    identities    integer NOT NULL,
    -- anonymous counts of the erased moments: {"kind": {"channel": n}}
    moment_counts jsonb NOT NULL DEFAULT '{}',
    erased_at     timestamptz NOT NULL DEFAULT now()
);

-- Promotion tasks: a material (a published form), a message and a deadline,
-- sent to employees as a WeCom app message. target_ids are userids or
-- department ids as text, by target_kind.
CREATE TABLE promotion_tasks (
    id             bigserial PRIMARY KEY,
    corp_id        text NOT NULL DEFAULT '',
    title          text NOT NULL CHECK (title <> ''),
    form_id        text NOT NULL DEFAULT '',
    material_title text NOT NULL DEFAULT '',
    material_url   text NOT NULL DEFAULT '',
    message        text NOT NULL DEFAULT '',
    deadline       timestamptz NOT NULL,
    target_kind    text NOT NULL CHECK (target_kind IN ('everyone', 'employees', 'departments')),
    target_ids     text[] NOT NULL DEFAULT '{}',
    -- publishing: targets fixed, message being sent; failed: sending failed
    -- (last_error says why) and the task can be published again
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'publishing', 'published', 'failed')),
    last_error     text NOT NULL DEFAULT '',
    msg_ids        text[] NOT NULL DEFAULT '{}',
    created_by     text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promotion_tasks_open ON promotion_tasks (deadline) WHERE status = 'published';

-- The employees a published task went to. delivered is false for receivers
-- WeCom reported invalid (left, outside the visible range, unlicensed).
CREATE TABLE promotion_task_targets (
    task_id   bigint NOT NULL REFERENCES promotion_tasks (id),
    userid    text NOT NULL,
    delivered boolean NOT NULL DEFAULT true,
    PRIMARY KEY (task_id, userid)
);
CREATE INDEX promotion_task_targets_user ON promotion_task_targets (userid, task_id);

-- Per-employee figures come from moments carrying detail.task_id
-- (material_sent by the sidebar, material_opened / form_submitted by the
-- form page): one source of truth, indexed here.
CREATE INDEX moments_task ON moments ((detail ->> 'task_id'), kind) WHERE detail ? 'task_id';

-- Dashboard: registrations per day and new users per day without a scan.
CREATE INDEX moments_registrations ON moments (occurred_at) WHERE kind = 'form_submitted';
CREATE INDEX marketing_users_created ON marketing_users (created_at);

-- Member levels: a member's level is the highest threshold their growth
-- reaches. corp_tag_id optionally mirrors the level onto a WeCom corp tag.
CREATE TABLE member_levels (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    threshold   bigint NOT NULL UNIQUE CHECK (threshold >= 0),
    corp_tag_id text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO member_levels (name, threshold) VALUES ('普通会员', 0), ('银卡会员', 1000), ('金卡会员', 5000);

-- Growth points per moment kind.
CREATE TABLE member_growth_rules (
    moment_kind text PRIMARY KEY,
    points      integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO member_growth_rules (moment_kind, points) VALUES ('form_submitted', 100);

-- Growth ledger, per identity (not per user) so that merges and splits carry
-- the points with the identities that earned them. moment_id dedups rule
-- points; manual adjustments have none.
CREATE TABLE member_growth_ledger (
    id          bigserial PRIMARY KEY,
    identity_id bigint NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    points      bigint NOT NULL,
    reason      text NOT NULL DEFAULT '',
    moment_id   bigint UNIQUE,
    actor       text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_growth_ledger_identity ON member_growth_ledger (identity_id);

-- The level last announced for a user (a member_level_changed moment is
-- recorded when the computed level differs).
CREATE TABLE member_level_state (
    user_id    bigint PRIMARY KEY REFERENCES marketing_users (id),
    level_id   bigint REFERENCES member_levels (id) ON DELETE SET NULL,
    points     bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Where rule-based growth has got to in the moments table.
CREATE TABLE member_growth_checkpoint (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_moment_id bigint NOT NULL DEFAULT 0
);
INSERT INTO member_growth_checkpoint DEFAULT VALUES;

-- +goose Down
DROP TABLE member_growth_checkpoint;
DROP TABLE member_level_state;
DROP TABLE member_growth_ledger;
DROP TABLE member_growth_rules;
DROP TABLE member_levels;
DROP INDEX marketing_users_created;
DROP INDEX moments_registrations;
DROP INDEX moments_task;
DROP TABLE promotion_task_targets;
DROP TABLE promotion_tasks;
DROP TABLE data_erasures;
DROP TABLE marketing_user_archive;
