-- +goose Up
-- The WeCom sidebar (issue 6): CRM records created from a chat, who may
-- reveal phone numbers, and an index for a group chat's recent moments.
--
-- Who follows whom, employees' departments and tags come from the WeCom
-- mirror (00020); roles from staff_roles (00031).

-- Local CRM records made with "Convert to CRM". Each is linked to its person
-- through a crm_lead / crm_contact / crm_account identity whose key is
-- public_id, so the CRM API shows it like any record pushed by a CRM.
CREATE TABLE crm_records (
    id              bigserial PRIMARY KEY,
    -- the identity key: MA-L-<id>, MA-C-<id>, MA-A-<id>
    public_id       text NOT NULL UNIQUE,
    kind            text NOT NULL CHECK (kind IN ('crm_lead', 'crm_contact', 'crm_account')),
    corp_id         text NOT NULL,
    name            text NOT NULL DEFAULT '',
    company         text NOT NULL DEFAULT '',
    -- the person when it was made (identity_resolve follows later merges)
    user_id         bigint NOT NULL REFERENCES marketing_users (id),
    identity_id     bigint NOT NULL REFERENCES identities (id),
    external_userid text NOT NULL DEFAULT '',
    created_by      text NOT NULL,  -- employee userid
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crm_records_user ON crm_records (user_id);

-- Sidebar settings (one row). Phone numbers are masked for everyone; the
-- roles listed here may reveal one, and every reveal is audited.
CREATE TABLE sidebar_settings (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    phone_reveal_roles text[] NOT NULL DEFAULT '{admin,manager}'
                       CHECK (phone_reveal_roles <@ ARRAY['admin', 'manager', 'staff']),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sidebar_settings DEFAULT VALUES;

-- A group chat's recent moments (group_joined / group_left / material_sent
-- carry the chat id in detail).
CREATE INDEX moments_chat ON moments ((detail ->> 'chat_id'), occurred_at DESC, id DESC)
    WHERE detail ? 'chat_id';

-- +goose Down
DROP INDEX moments_chat;
DROP TABLE sidebar_settings;
DROP TABLE crm_records;
