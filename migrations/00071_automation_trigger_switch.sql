-- +goose Up
-- The automation trigger is switched off while no rule is enabled, so that
-- moments cost nothing extra then (not even the statement trigger's call
-- and its transition table). The rule service switches it in the same
-- transaction that enables the first rule or disables the last one
-- (services/automation_trigger.go).
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM automation_rules WHERE enabled) THEN
        ALTER TABLE moments DISABLE TRIGGER automation_enqueue;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE moments ENABLE TRIGGER automation_enqueue;
