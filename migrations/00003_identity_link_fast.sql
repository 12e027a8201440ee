-- +goose Up
-- identity_link, faster on the paths almost every observation takes.
--
-- Measured on the realistic stream (issue 3, B1: 45% new records, 40% a new
-- identity beside a known phone, 15% known keys, ~2% merges), 97% of links
-- either create a user from keys nobody owns or touch one existing user. The
-- general function of 00002 spends most of its time interpreting a dozen
-- PL/pgSQL statements and, because its statements take array parameters,
-- planning each of them again on every call (the plan cache keeps preferring
-- custom plans). This migration:
--   * renames the general function to identity_link_general (unchanged);
--   * puts a new identity_link with the same signature in front of it, which
--     takes the key locks and reads the owners in two statements, then
--     handles "all keys new" and "keys of one user" in two or three more,
--     checking the same rules in the same statement that locks the user, and
--     hands everything else (two or more owners, a rule that would break) to
--     identity_link_general, which repeats the lookup under the same
--     (re-entrant) locks and decides exactly as before;
--   * forces generic plans in both, as the right plans are index probes per
--     key whatever the arrays hold.
-- Results are the same as the general function's for every input (the
-- identity property tests run against this function).

ALTER FUNCTION identity_link(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    RENAME TO identity_link_general;
ALTER FUNCTION identity_link_general(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION identity_merge_users(bigint, bigint, bigint, bigint, text, text, text, text, boolean, text, timestamptz)
    SET plan_cache_mode = force_generic_plan;

-- +goose StatementBegin
CREATE FUNCTION identity_link(
    p_kinds text[], p_scopes text[], p_keys text[], p_phones bytea[], p_verified boolean[], p_attrs jsonb[],
    p_source text, p_ref text, p_at timestamptz,
    m_idx integer[], m_kinds text[], m_at timestamptz[], m_channels text[], m_employees text[],
    m_titles text[], m_details jsonb[], m_dedup text[],
    OUT user_id bigint, OUT outcome text, OUT identity_ids bigint[], OUT conflict_ids bigint[],
    OUT merged_from bigint[])
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n        integer := coalesce(cardinality(p_keys), 0);
    owners   bigint[];
    cands    bigint[];
    n_new    integer;
    np_new   integer;
    nu_new   integer;
    anchor   bigint;
    checked  bigint[];
BEGIN
    IF n = 0 THEN
        RAISE EXCEPTION 'identity_link: no identities' USING ERRCODE = '22023';
    END IF;
    conflict_ids := '{}';
    merged_from := '{}';

    -- Serialise concurrent links of the same keys; sorted, so deadlock-free
    -- (the same order as identity_link_general, which takes them again).
    PERFORM pg_advisory_xact_lock(h)
       FROM (SELECT DISTINCT hashtextextended(k || chr(31) || s || chr(31) || v, 0) AS h
               FROM unnest(p_kinds, p_scopes, p_keys) AS x(k, s, v) ORDER BY 1) l;

    SELECT array_agg(i.id ORDER BY x.ord), array_agg(i.user_id ORDER BY x.ord),
           array_agg(DISTINCT i.user_id) FILTER (WHERE i.user_id IS NOT NULL),
           count(*) FILTER (WHERE i.id IS NULL),
           count(*) FILTER (WHERE i.id IS NULL AND x.k = 'phone'),
           count(*) FILTER (WHERE i.id IS NULL AND x.k = 'unionid')
      INTO identity_ids, owners, cands, n_new, np_new, nu_new
      FROM unnest(p_kinds, p_scopes, p_keys) WITH ORDINALITY AS x(k, s, v, ord)
      LEFT JOIN identities i ON i.kind = x.k AND i.scope = x.s AND i.key = x.v;
    cands := coalesce(cands, '{}');

    IF cardinality(cands) = 0 THEN
        -- All keys new: a new user, born with its counters, when the keys
        -- alone break no rule (the keys are distinct, so only the counts can).
        IF nu_new > 1 OR EXISTS (SELECT 1 FROM identity_settings c
                                  WHERE np_new > c.max_phones OR n > c.max_identities) THEN
            SELECT * INTO user_id, outcome, identity_ids, conflict_ids, merged_from
              FROM identity_link_general(p_kinds, p_scopes, p_keys, p_phones, p_verified, p_attrs, p_source, p_ref,
                   p_at, m_idx, m_kinds, m_at, m_channels, m_employees, m_titles, m_details, m_dedup);
            RETURN;
        END IF;
        identity_ids := ARRAY(SELECT nextval('identities_id_seq'::regclass) FROM generate_series(1, n));
        WITH u AS (INSERT INTO marketing_users (n_identities, n_phones) VALUES (n, np_new) RETURNING id),
        ins AS (INSERT INTO identities (id, user_id, kind, scope, key, phone, verified, attrs, linked_to, seen_with,
                                ev_source, ev_ref, ev_verified, first_seen, last_seen)
        SELECT identity_ids[x.ord], u.id, x.k, x.s, x.v, nullif(x.ph, ''::bytea), x.ve, coalesce(x.at, '{}'),
               nullif(identity_ids[1], identity_ids[x.ord]), nullif(identity_ids[1], identity_ids[x.ord]),
               p_source, p_ref, x.ve, p_at, p_at
          FROM u, unnest(p_kinds, p_scopes, p_keys, p_phones, p_verified, p_attrs) WITH ORDINALITY
               AS x(k, s, v, ph, ve, at, ord)
         ORDER BY x.ord)
        SELECT u.id INTO user_id FROM u;
        outcome := 'created';
    ELSIF cardinality(cands) = 1 AND n_new = 0 THEN
        -- A re-observation of one user's keys: nothing to lock.
        user_id := cands[1];
        outcome := 'attached';
    ELSIF cardinality(cands) = 1 THEN
        -- New keys beside one user's known ones. Locking the user and checking
        -- the rules is one statement: the UPDATE waits for a concurrent merge
        -- or link of that user and re-checks its conditions on the row it
        -- finally locks.
        UPDATE marketing_users m
           SET n_identities = m.n_identities + n_new, n_phones = m.n_phones + np_new, updated_at = now()
          FROM identity_settings c
         WHERE m.id = cands[1] AND m.merged_into IS NULL
           AND m.n_identities + n_new <= c.max_identities AND m.n_phones + np_new <= c.max_phones
           AND (nu_new = 0 OR (nu_new = 1 AND NOT EXISTS
                  (SELECT 1 FROM identities x WHERE x.user_id = m.id AND x.kind = 'unionid')))
        RETURNING m.id INTO user_id;
        IF user_id IS NULL THEN
            SELECT * INTO user_id, outcome, identity_ids, conflict_ids, merged_from
              FROM identity_link_general(p_kinds, p_scopes, p_keys, p_phones, p_verified, p_attrs, p_source, p_ref,
                   p_at, m_idx, m_kinds, m_at, m_channels, m_employees, m_titles, m_details, m_dedup);
            RETURN;
        END IF;
        -- The owners were read before the lock: a split may have moved a key
        -- meanwhile. Rare; the caller retries serialisation failures.
        SELECT array_agg(i.user_id ORDER BY x.ord) INTO checked
          FROM unnest(p_kinds, p_scopes, p_keys) WITH ORDINALITY AS x(k, s, v, ord)
          LEFT JOIN identities i ON i.kind = x.k AND i.scope = x.s AND i.key = x.v;
        IF checked IS DISTINCT FROM owners THEN
            RAISE EXCEPTION 'identity_link: owners changed' USING ERRCODE = '40001';
        END IF;
        -- New identities hang off the first known one, as in the general path.
        anchor := identity_ids[array_position(owners, user_id)];
        WITH fresh AS (
            SELECT x.ord, nextval('identities_id_seq'::regclass) AS id
              FROM generate_series(1, n) AS x(ord) WHERE owners[x.ord] IS NULL ORDER BY x.ord)
        SELECT array_agg(coalesce(f.id, identity_ids[x.ord]) ORDER BY x.ord) INTO identity_ids
          FROM generate_series(1, n) AS x(ord) LEFT JOIN fresh f ON f.ord = x.ord;
        INSERT INTO identities (id, user_id, kind, scope, key, phone, verified, attrs, linked_to, seen_with,
                                ev_source, ev_ref, ev_verified, first_seen, last_seen)
        SELECT identity_ids[x.ord], user_id, x.k, x.s, x.v, nullif(x.ph, ''::bytea), x.ve, coalesce(x.at, '{}'),
               anchor, anchor, p_source, p_ref, x.ve, p_at, p_at
          FROM unnest(p_kinds, p_scopes, p_keys, p_phones, p_verified, p_attrs) WITH ORDINALITY
               AS x(k, s, v, ph, ve, at, ord)
         WHERE owners[x.ord] IS NULL
         ORDER BY x.ord;
        outcome := 'attached';
    ELSE
        -- Two or more users: merge rules, conflicts, the merge log.
        SELECT * INTO user_id, outcome, identity_ids, conflict_ids, merged_from
          FROM identity_link_general(p_kinds, p_scopes, p_keys, p_phones, p_verified, p_attrs, p_source, p_ref,
               p_at, m_idx, m_kinds, m_at, m_channels, m_employees, m_titles, m_details, m_dedup);
        RETURN;
    END IF;

    -- Known identities: refresh last_seen, attributes and verification.
    IF n_new < n THEN
        UPDATE identities i
           SET last_seen = greatest(i.last_seen, p_at),
               attrs = i.attrs || coalesce(p_attrs[x.ord], '{}'),
               verified = i.verified OR p_verified[x.ord]
          FROM unnest(owners, identity_ids) WITH ORDINALITY AS x(o, iid, ord)
         WHERE x.o IS NOT NULL AND i.id = x.iid
           AND (i.last_seen < p_at - interval '1 hour'
                OR NOT i.attrs @> coalesce(p_attrs[x.ord], '{}')
                OR (p_verified[x.ord] AND NOT i.verified));
    END IF;

    -- Moments, on the identities they were observed on; replays are no-ops.
    IF coalesce(cardinality(m_idx), 0) > 0 THEN
        INSERT INTO moments (identity_id, kind, occurred_at, channel, employee_userid, title, detail, dedup_key)
        SELECT identity_ids[x.ix], x.k, x.at, coalesce(x.ch, ''), coalesce(x.em, ''), coalesce(x.ti, ''),
               coalesce(x.de, '{}'), x.dk
          FROM unnest(m_idx, m_kinds, m_at, m_channels, m_employees, m_titles, m_details, m_dedup)
               AS x(ix, k, at, ch, em, ti, de, dk)
        ON CONFLICT (dedup_key) DO NOTHING;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION identity_link(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[]);
ALTER FUNCTION identity_link_general(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    RESET plan_cache_mode;
ALTER FUNCTION identity_link_general(text[], text[], text[], bytea[], boolean[], jsonb[], text, text, timestamptz,
    integer[], text[], timestamptz[], text[], text[], text[], jsonb[], text[])
    RENAME TO identity_link;
ALTER FUNCTION identity_merge_users(bigint, bigint, bigint, bigint, text, text, text, text, boolean, text, timestamptz)
    RESET plan_cache_mode;
