-- +goose Up
-- Task figures come from the moments the forms and the sidebar already
-- record (material_sent, form_viewed, form_submitted with detail.form_id
-- and the attributed employee), not from a task id the moments would have
-- to carry: index that instead.
DROP INDEX moments_task;
CREATE INDEX moments_material ON moments ((detail ->> 'form_id'), employee_userid, occurred_at)
    WHERE kind IN ('material_sent', 'form_viewed', 'form_submitted');

-- +goose Down
DROP INDEX moments_material;
CREATE INDEX moments_task ON moments ((detail ->> 'task_id'), kind) WHERE detail ? 'task_id';
