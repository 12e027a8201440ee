-- +goose Up
-- API key use is audited without a row per request (issue 8): the key's row
-- remembers when its use and its refusals were last audited, and the request
-- that moves one of these past the hour writes the audit row in the same
-- statement (services/apikeys.go), so instances never write it twice.
ALTER TABLE api_keys
    ADD COLUMN use_audited_at     timestamptz,
    ADD COLUMN refused_audited_at timestamptz;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN use_audited_at, DROP COLUMN refused_audited_at;
