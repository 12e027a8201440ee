-- +goose Up
-- Promotion tasks may target a segment (target_ids holds its id): widen
-- the target kinds in place, as the moments kinds are, so other features'
-- additions survive in any order.
-- +goose StatementBegin
DO $$
DECLARE def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = 'promotion_tasks'::regclass AND conname = 'promotion_tasks_target_kind_check';
    IF def IS NULL OR position('''segment''' IN def) > 0 THEN
        RETURN;
    END IF;
    EXECUTE 'ALTER TABLE promotion_tasks DROP CONSTRAINT promotion_tasks_target_kind_check';
    EXECUTE 'ALTER TABLE promotion_tasks ADD CONSTRAINT promotion_tasks_target_kind_check '
        || replace(def, 'ARRAY[', 'ARRAY[''segment''::text, ');
END $$;
-- +goose StatementEnd

-- +goose Down
SELECT 1;
