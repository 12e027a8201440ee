-- +goose Up
-- app_meta records facts about this installation (first start, schema owner).
CREATE TABLE app_meta (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO app_meta (key, value) VALUES ('installed_at', now()::text);

-- +goose Down
DROP TABLE app_meta;
