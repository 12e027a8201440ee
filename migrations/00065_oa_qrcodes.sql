-- +goose Up
-- Official Account channel QR codes (parametric, scene_str = code). A scan
-- (subscribe with EventKey qrscene_<code>, or SCAN with <code>) is answered
-- with the code's passive reply, and the scan's moments carry channel = code;
-- form links in the reply are signed with the same channel, so registrations
-- through it are attributed to it. A code stays reserved after the QR code is
-- retired: printed codes keep firing events that carry it.
CREATE SEQUENCE oa_qrcodes_version;

CREATE TABLE oa_qrcodes (
    id               bigserial PRIMARY KEY,
    app_id           text NOT NULL,
    code             text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,30}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 30),
    permanent        boolean NOT NULL,
    expires_at       timestamptz,
    ticket           text NOT NULL,
    url              text NOT NULL,           -- content of the QR code (weixin.qq.com/q/…)
    image_url        text NOT NULL DEFAULT '', -- showqrcode?ticket=…
    reply_kind       text NOT NULL CHECK (reply_kind IN ('text', 'news')),
    reply_text       text NOT NULL DEFAULT '',
    news_title       text NOT NULL DEFAULT '',
    news_description text NOT NULL DEFAULT '',
    news_pic_url     text NOT NULL DEFAULT '',
    form_slug        text NOT NULL DEFAULT '',
    form_title       text NOT NULL DEFAULT '',
    created_by       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    -- version is bumped on every change; instances caching the replies
    -- compare sum(version) to know when to reload
    version          bigint NOT NULL DEFAULT nextval('oa_qrcodes_version'),
    CONSTRAINT oa_qrcodes_code UNIQUE (code)
);
CREATE INDEX oa_qrcodes_version_idx ON oa_qrcodes (version);

-- the per-code counts: scans and follows (moments), registrations (submissions)
CREATE INDEX moments_oa_channel ON moments (channel, kind) WHERE kind IN ('oa_subscribed', 'oa_scanned');
CREATE INDEX form_submissions_channel ON form_submissions (channel) WHERE channel <> '';

-- +goose Down
DROP INDEX form_submissions_channel;
DROP INDEX moments_oa_channel;
DROP TABLE oa_qrcodes;
DROP SEQUENCE oa_qrcodes_version;
