-- +goose Up
-- 00003 made identity_link plan its statements once per connection. A plan
-- made once may be made while the tables are nearly empty (a new install, a
-- test database), when a hash join over a sequential scan of identities looks
-- cheapest; that plan then stayed cached while the table grew, until an
-- autoanalyze invalidated it, and each link scanned the whole table (seen as
-- a form-submission benchmark slowing down round after round). Every
-- statement of the link is an index probe per key by design, so sequential
-- scans are disabled inside it; JIT is off because a disabled scan's cost (on
-- the one-row settings table) would otherwise trigger it on every call.
--
-- The settings of a function apply to the functions it calls, so
-- identity_link_general and identity_merge_users, which run under
-- identity_link, get them too; their own generic-plan setting from 00003 is
-- dropped, so that called elsewhere they plan as before.
ALTER FUNCTION identity_link(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    SET enable_seqscan = off;
ALTER FUNCTION identity_link(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    SET jit = off;
ALTER FUNCTION identity_link_general(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    RESET plan_cache_mode;
ALTER FUNCTION identity_merge_users(bigint, bigint, bigint, bigint, text, text, text, text, boolean, text, timestamptz)
    RESET plan_cache_mode;

-- +goose Down
ALTER FUNCTION identity_link(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    RESET enable_seqscan;
ALTER FUNCTION identity_link(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    RESET jit;
ALTER FUNCTION identity_link_general(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION identity_merge_users(bigint, bigint, bigint, bigint, text, text, text, text, boolean, text, timestamptz)
    SET plan_cache_mode = force_generic_plan;
