-- +goose Up
-- Channel QR codes (「联系我」 contact ways). code is the contact way's state
-- (≤30 chars): WeCom hands it back in follow_user.state and in the add event,
-- which is how an add is attributed to its channel. A code stays reserved
-- after its channel is deleted, because old relations still carry it.
CREATE TABLE wecom_channels (
    id           bigserial PRIMARY KEY,
    corp_id      text NOT NULL,
    code         text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,30}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 30),
    config_id    text NOT NULL,
    qr_code      text NOT NULL DEFAULT '',
    employees    text[] NOT NULL CHECK (cardinality(employees) BETWEEN 1 AND 100),
    tag_ids      text[] NOT NULL DEFAULT '{}',
    welcome_text text NOT NULL DEFAULT '',
    -- the published form linked in the welcome message (copied when saved)
    form_slug    text NOT NULL DEFAULT '',
    form_title   text NOT NULL DEFAULT '',
    skip_verify  boolean NOT NULL DEFAULT true,
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    CONSTRAINT wecom_channels_code UNIQUE (corp_id, code)
);

-- +goose Down
DROP TABLE wecom_channels;
