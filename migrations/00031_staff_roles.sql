-- +goose Up
-- Roles of WeCom employees in this app. An employee without a row is plain
-- staff: the sidebar shows them the customers they follow and nothing else.
CREATE TABLE staff_roles (
    corp_id    text NOT NULL,
    userid     text NOT NULL,
    role       text NOT NULL CHECK (role IN ('admin', 'manager', 'staff')),
    -- managers see the customers followed by members of these departments
    department_ids bigint[] NOT NULL DEFAULT '{}',
    granted_by text NOT NULL DEFAULT '',
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corp_id, userid)
);

-- +goose Down
DROP TABLE staff_roles;
