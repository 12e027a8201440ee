-- +goose Up
-- WeCom mass messages (企业群发, issue 10): an admin writes a message for a
-- segment's WeCom customers; sending creates one add_msg_template task per
-- employee; the employee confirms in WeCom; refreshing reads the results.

CREATE TABLE mass_messages (
    id             bigserial PRIMARY KEY,
    corp_id        text NOT NULL,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 60),
    segment_id     bigint REFERENCES segments (id) ON DELETE SET NULL,
    segment_name   text NOT NULL DEFAULT '',  -- kept when the segment is deleted
    text           text NOT NULL DEFAULT '',
    -- attachment: none, a form link (form_id) or a mini-program card
    attach_kind    text NOT NULL DEFAULT 'none' CHECK (attach_kind IN ('none', 'form', 'miniprogram')),
    form_id        bigint,
    form_title     text NOT NULL DEFAULT '',
    mp_title       text NOT NULL DEFAULT '',
    mp_page        text NOT NULL DEFAULT '',
    mp_media_id    text NOT NULL DEFAULT '',
    -- draft → sending (tasks being created) → sent (awaiting employees)
    -- or failed (no task could be created; last_error says why)
    status         text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sending', 'sent', 'failed')),
    last_error     text NOT NULL DEFAULT '',
    excluded_week  integer NOT NULL DEFAULT 0,  -- customers left out: messaged within 7 days
    created_by     text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    refreshed_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mass_messages_open ON mass_messages (sent_at) WHERE status = 'sent';

-- One add_msg_template call: an employee and up to 10,000 of their
-- customers. msgid is WeCom's; errcode the refusal when the call failed.
CREATE TABLE mass_message_senders (
    message_id  bigint NOT NULL REFERENCES mass_messages (id) ON DELETE CASCADE,
    userid      text NOT NULL,
    batch       integer NOT NULL DEFAULT 0,
    msgid       text NOT NULL DEFAULT '',
    customers   integer NOT NULL DEFAULT 0,
    -- WeCom's task status: 0 未发送, 1 已发送, 2 已取消/过期; -1 not created
    status      smallint NOT NULL DEFAULT -1,
    send_time   timestamptz,
    errcode     integer NOT NULL DEFAULT 0,
    errmsg      text NOT NULL DEFAULT '',
    PRIMARY KEY (message_id, userid, batch)
);

-- The per-customer record: who each message went (or was to go) to and
-- WeCom's result. It is also the weekly-limit ledger: a customer with a
-- row of a message sent within 7 days (status 0 waiting or 1 received) is
-- left out of the next one.
CREATE TABLE mass_message_recipients (
    message_id      bigint NOT NULL REFERENCES mass_messages (id) ON DELETE CASCADE,
    corp_id         text NOT NULL,
    external_userid text NOT NULL,
    userid          text NOT NULL,
    batch           integer NOT NULL DEFAULT 0,
    user_id         bigint,  -- the marketing user (for the moment)
    -- 0 未发送, 1 已发送, 2 非好友, 3 已达上限 (received another), 4 refused at creation (fail_list)
    status          smallint NOT NULL DEFAULT 0,
    send_time       timestamptz,
    planned_at      timestamptz NOT NULL,
    PRIMARY KEY (message_id, external_userid)
);
CREATE INDEX mass_message_recipients_week ON mass_message_recipients (corp_id, external_userid, planned_at)
    WHERE status IN (0, 1);
CREATE INDEX mass_message_recipients_sender ON mass_message_recipients (message_id, userid, batch);

-- The timeline kind of a received mass message. The kind list is widened in
-- place (not restated) so that other features' added kinds survive in any order.
-- +goose StatementBegin
DO $$
DECLARE def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = 'moments'::regclass AND conname = 'moments_kind_check';
    IF def IS NULL OR position('mass_message_received' IN def) > 0 THEN
        RETURN;
    END IF;
    EXECUTE 'ALTER TABLE moments DROP CONSTRAINT moments_kind_check';
    EXECUTE 'ALTER TABLE moments ADD CONSTRAINT moments_kind_check '
        || replace(def, 'ARRAY[', 'ARRAY[''mass_message_received''::text, ') || ' NOT VALID';
    EXECUTE 'ALTER TABLE moments VALIDATE CONSTRAINT moments_kind_check';
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE mass_message_recipients;
DROP TABLE mass_message_senders;
DROP TABLE mass_messages;
