-- +goose Up
-- Micro-page registration forms, their submissions, SMS verification codes.
--
-- Personal answers (name, company, email, free text...) and the phone are
-- sealed by the app (AES-GCM, the column name as associated data); look-ups by
-- phone go through the blind index phone_key (the same hex HMAC the identity
-- engine uses as the phone identity's key).

CREATE TABLE forms (
    id              bigserial PRIMARY KEY,
    -- 16 random base32 characters (80 bits): an unpublished form cannot be guessed
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z2-7]{16}$'),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    cover_url       text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    -- [{key, kind, label, required, options[]}]; the phone field is implied
    fields          jsonb NOT NULL DEFAULT '[]',
    consent_text    text NOT NULL CHECK (consent_text <> ''),
    -- bumped whenever consent_text changes; submissions record the version they agreed to
    consent_version integer NOT NULL DEFAULT 1,
    privacy_url     text NOT NULL DEFAULT '',
    success_message text NOT NULL DEFAULT '',
    after_submit    text NOT NULL DEFAULT 'message' CHECK (after_submit IN ('message', 'employee_qr', 'url')),
    after_url       text NOT NULL DEFAULT '',
    require_wechat  boolean NOT NULL DEFAULT false,
    sms_verify      boolean NOT NULL DEFAULT false,
    published       boolean NOT NULL DEFAULT false,
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forms_published ON forms (updated_at DESC) WHERE published;

-- Every consent text a form has shown, so a submission's consent_version
-- names the exact words the person agreed to.
CREATE TABLE form_consents (
    form_id    bigint NOT NULL REFERENCES forms (id),
    version    integer NOT NULL,
    text       text NOT NULL,
    privacy_url text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (form_id, version)
);

-- Hosts an after-submit URL may point to (besides BASE_URL's own host).
CREATE TABLE form_redirect_hosts (
    host       text PRIMARY KEY CHECK (host = lower(host) AND host <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE form_submissions (
    id              bigserial PRIMARY KEY,
    form_id         bigint NOT NULL REFERENCES forms (id),
    -- the user the submission linked to when it was made (follow merged_into
    -- with identity_resolve for the current one)
    user_id         bigint NOT NULL REFERENCES marketing_users (id),
    -- the page's one-time token (or the API's request id): a double click,
    -- a refresh or a retried POST finds the same row
    dedupe_key      text NOT NULL CHECK (length(dedupe_key) BETWEEN 8 AND 100),
    -- shown in the success URL instead of the sequential id
    public_id       text NOT NULL UNIQUE,
    phone           bytea NOT NULL,           -- sealed E.164, AAD "form_submissions.phone"
    phone_key       text NOT NULL,            -- blind index (hex)
    phone_verified  boolean NOT NULL DEFAULT false,
    answers         bytea NOT NULL,           -- sealed JSON object, AAD "form_submissions.answers"
    consent_version integer NOT NULL,
    consented_at    timestamptz NOT NULL,
    -- attribution (from a verified token only) and campaign parameters
    channel         text NOT NULL DEFAULT '',
    employee_userid text NOT NULL DEFAULT '',
    external_userid text NOT NULL DEFAULT '',
    material_id     text NOT NULL DEFAULT '',
    utm             jsonb NOT NULL DEFAULT '{}',
    -- WeChat identities seen with it
    oa_openid       text NOT NULL DEFAULT '',
    unionid         text NOT NULL DEFAULT '',
    mp_openid       text NOT NULL DEFAULT '',
    source          text NOT NULL CHECK (source IN ('web', 'wechat', 'mp')),
    ip              text NOT NULL DEFAULT '',
    -- risk flags set at insert time, e.g. ip_burst, openid_burst
    risk            text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT form_submissions_dedupe UNIQUE (form_id, dedupe_key)
);
CREATE INDEX form_submissions_form ON form_submissions (form_id, created_at DESC, id DESC);
CREATE INDEX form_submissions_phone ON form_submissions (phone_key, created_at DESC);
CREATE INDEX form_submissions_ip ON form_submissions (ip, created_at DESC) WHERE ip <> '';
CREATE INDEX form_submissions_openid ON form_submissions (oa_openid, created_at DESC) WHERE oa_openid <> '';
CREATE INDEX form_submissions_risk ON form_submissions (form_id, id DESC) WHERE risk <> '{}';

-- One pending SMS code per phone and purpose; only its HMAC is kept.
CREATE TABLE sms_codes (
    phone_key  text NOT NULL,
    purpose    text NOT NULL,
    code_hash  bytea NOT NULL,
    sent_at    timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    -- sends in the current window (resend limit per hour)
    sends      integer NOT NULL DEFAULT 1,
    window_at  timestamptz NOT NULL,
    PRIMARY KEY (phone_key, purpose)
);

-- Contact QR codes made for an employee on a form's success page (one
-- contact way per form and employee, reused).
CREATE TABLE form_contact_qr (
    form_id         bigint NOT NULL REFERENCES forms (id),
    employee_userid text NOT NULL,
    config_id       text NOT NULL,
    qr_url          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (form_id, employee_userid)
);

-- +goose Down
DROP TABLE form_contact_qr;
DROP TABLE sms_codes;
DROP TABLE form_submissions;
DROP TABLE form_redirect_hosts;
DROP TABLE form_consents;
DROP TABLE forms;
