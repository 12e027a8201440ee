-- +goose Up
-- OA template messages: the account's templates (synced), sends to a
-- segment's fans with one row per recipient, and the TEMPLATESENDJOBFINISH
-- results by msgid.
CREATE TABLE oa_templates (
    template_id text PRIMARY KEY,
    app_id      text NOT NULL,
    title       text NOT NULL,
    content     text NOT NULL,
    example     text NOT NULL DEFAULT '',
    fields      text[] NOT NULL, -- the {{name.DATA}} placeholders, in order
    synced_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz     -- gone from the account at the last sync
);

CREATE TABLE template_sends (
    id           bigserial PRIMARY KEY,
    app_id       text NOT NULL,
    template_id  text NOT NULL REFERENCES oa_templates (template_id),
    segment_id   bigint NOT NULL,
    segment_name text NOT NULL,
    -- {"thing1": {"kind": "text"|"var", "value": "…"}}
    fields       jsonb NOT NULL,
    form_slug    text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sending', 'done')),
    recipients   int NOT NULL DEFAULT 0,
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    -- the instance running the send holds it until lease_until; a crashed
    -- runner's send is taken up again after that
    lease_until  timestamptz,
    lease_owner  text NOT NULL DEFAULT ''
);
CREATE INDEX template_sends_running ON template_sends (id) WHERE status = 'sending';

-- One row per fan: pending → sent (msgid) or failed (errcode). A row is
-- sent with client_msg_id "ma-<send>-<row>", so resending a row whose
-- outcome was lost in a crash reaches nobody twice; sent rows never resend.
CREATE TABLE template_recipients (
    id           bigserial PRIMARY KEY,
    send_id      bigint NOT NULL REFERENCES template_sends (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL,
    openid       text NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    msgid        bigint,
    errcode      int NOT NULL DEFAULT 0,
    -- TEMPLATESENDJOBFINISH Status: success | failed:user block | failed: system failed
    delivery     text NOT NULL DEFAULT '',
    attempted_at timestamptz,
    CONSTRAINT template_recipients_once UNIQUE (send_id, openid)
);
CREATE INDEX template_recipients_todo ON template_recipients (send_id, id) WHERE status = 'pending';
CREATE INDEX template_recipients_msgid ON template_recipients (msgid) WHERE msgid IS NOT NULL;

-- Results can arrive before the sender has recorded the msgid; both sides
-- meet here.
CREATE TABLE template_job_results (
    msgid       bigint PRIMARY KEY,
    status      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE template_job_results;
DROP TABLE template_recipients;
DROP TABLE template_sends;
DROP TABLE oa_templates;
