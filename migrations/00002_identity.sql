-- +goose Up
-- The identity engine: marketing users, the identities (keys) they own, the
-- moments observed on those identities, conflicts, the merge log, splits, and
-- the CRM API's keys and idempotency records.
--
-- Invariants the database enforces (not only the code):
--   * an identity key (kind, scope, key) exists once: UNIQUE;
--   * an identity belongs to exactly one marketing user, and that user is live
--     (not absorbed): user_id NOT NULL plus a foreign key on (user_id, live)
--     whose referenced live flag is generated from merged_into IS NULL, so a
--     user cannot be marked merged while it still owns identities;
--   * a user owns at most one unionid: a partial unique index;
--   * a moment is recorded once per dedup key: UNIQUE.

CREATE TABLE marketing_users (
    id           bigserial PRIMARY KEY,
    -- merged_into points at the survivor that absorbed this user; merges
    -- compress the chains, so it always names a live user.
    merged_into  bigint REFERENCES marketing_users (id),
    live         boolean GENERATED ALWAYS AS (merged_into IS NULL) STORED,
    -- counters kept by the link function, Merge and Split (audit recomputes them)
    n_identities integer NOT NULL DEFAULT 0,
    n_phones     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT marketing_users_id_live UNIQUE (id, live),
    CONSTRAINT marketing_users_not_self CHECK (merged_into <> id)
);
CREATE INDEX marketing_users_merged_into ON marketing_users (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE identities (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL,
    user_live   boolean NOT NULL DEFAULT true CHECK (user_live),
    kind        text NOT NULL CHECK (kind IN ('phone', 'unionid', 'oa_openid', 'mp_openid',
                    'wecom_external_userid', 'wecom_pending_id', 'crm_lead', 'crm_contact',
                    'crm_account', 'member')),
    scope       text NOT NULL DEFAULT '',
    -- key is the plain id, or for phones the hex HMAC blind index of the E.164 number
    key         text NOT NULL CHECK (key <> ''),
    -- phone holds the sealed E.164 number (AES-GCM, "identities.phone" as AAD)
    phone       bytea CHECK ((kind = 'phone') = (phone IS NOT NULL)),
    verified    boolean NOT NULL DEFAULT false,
    attrs       jsonb NOT NULL DEFAULT '{}',
    -- linked_to is the identity this one was first seen with (its edge in the
    -- identity graph); NULL for the first identity of a user. Audit rebuilds
    -- components from these edges plus the merge log.
    linked_to   bigint REFERENCES identities (id) ON DELETE SET NULL,
    -- seen_with is linked_to as first recorded (evidence; Split re-links
    -- linked_to to keep each side connected but never changes seen_with)
    seen_with   bigint,
    -- evidence of the observation that created it
    ev_source   text NOT NULL DEFAULT '',
    ev_ref      text NOT NULL DEFAULT '',
    ev_verified boolean NOT NULL DEFAULT false,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT identities_key UNIQUE (kind, scope, key),
    CONSTRAINT identities_user_live FOREIGN KEY (user_id, user_live) REFERENCES marketing_users (id, live)
);
CREATE INDEX identities_user ON identities (user_id);
CREATE UNIQUE INDEX identities_one_unionid ON identities (user_id) WHERE kind = 'unionid';

-- Settings of the merge rules (one row).
CREATE TABLE identity_settings (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    max_phones             integer NOT NULL DEFAULT 3 CHECK (max_phones >= 1),
    max_identities         integer NOT NULL DEFAULT 50 CHECK (max_identities >= 2),
    -- false forbids merging two existing users on an unverified phone
    merge_unverified_phone boolean NOT NULL DEFAULT true,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
INSERT INTO identity_settings DEFAULT VALUES;

-- Values that never link, besides the built-in junk rules in Go. value is the
-- normalised value (E.164 for phones); kind '' applies to every kind.
CREATE TABLE identity_blocklist (
    kind       text NOT NULL DEFAULT '',
    value      text NOT NULL,
    note       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
INSERT INTO identity_blocklist (kind, value, note) VALUES
    ('phone', '+8613800138000', 'documentation test number'),
    ('phone', '+8613900139000', 'documentation test number'),
    ('phone', '+8613800000000', 'test number'),
    ('phone', '+8613888888888', 'test number'),
    ('phone', '+8618888888888', 'test number'),
    ('phone', '+8612345678901', 'test number'),
    ('', 'null', 'junk'), ('', 'undefined', 'junk'), ('', 'nil', 'junk'), ('', 'none', 'junk'),
    ('', 'anonymous', 'junk'), ('', 'unknown', 'junk'), ('', 'test', 'junk'), ('', '-1', 'junk');

-- Merge log: append-only. kind 'merge' (from_user absorbed into into_user) or
-- 'split' (identities moved from from_user into the new into_user).
CREATE TABLE identity_merge_log (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('merge', 'split')),
    from_user   bigint NOT NULL REFERENCES marketing_users (id),
    into_user   bigint NOT NULL REFERENCES marketing_users (id),
    moved       integer NOT NULL,
    -- the two identities the evidence connected (merge), NULL for splits
    via_from    bigint REFERENCES identities (id) ON DELETE SET NULL,
    via_into    bigint REFERENCES identities (id) ON DELETE SET NULL,
    via_kind    text NOT NULL DEFAULT '',
    reason      text NOT NULL DEFAULT '',
    ev_source   text NOT NULL DEFAULT '',
    ev_ref      text NOT NULL DEFAULT '',
    ev_verified boolean NOT NULL DEFAULT false,
    actor       text NOT NULL DEFAULT '',
    -- a later split severs a merge edge: audit then ignores it
    severed     boolean NOT NULL DEFAULT false,
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_merge_log_from ON identity_merge_log (from_user);
CREATE INDEX identity_merge_log_into ON identity_merge_log (into_user);

-- A split's two sides; automatic linking never merges users holding
-- identities from opposite sides of one split.
CREATE TABLE identity_split_members (
    split_id    bigint NOT NULL REFERENCES identity_merge_log (id),
    identity_id bigint NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    side        smallint NOT NULL CHECK (side IN (0, 1)),
    PRIMARY KEY (split_id, identity_id)
);
CREATE INDEX identity_split_members_identity ON identity_split_members (identity_id);

-- Refused merges, for review. One open row per pair and reason; repeats bump seen.
CREATE TABLE identity_conflicts (
    id          bigserial PRIMARY KEY,
    user_a      bigint NOT NULL REFERENCES marketing_users (id),
    user_b      bigint NOT NULL REFERENCES marketing_users (id),
    reason      text NOT NULL,
    via_kind    text NOT NULL DEFAULT '',
    via_identity bigint REFERENCES identities (id) ON DELETE SET NULL,
    ev_source   text NOT NULL DEFAULT '',
    ev_ref      text NOT NULL DEFAULT '',
    ev_verified boolean NOT NULL DEFAULT false,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'dismissed')),
    seen        integer NOT NULL DEFAULT 1,
    resolved_by text NOT NULL DEFAULT '',
    resolved_at timestamptz,
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX identity_conflicts_open ON identity_conflicts
    (LEAST(user_a, user_b), GREATEST(user_a, user_b), reason) WHERE status = 'open';
CREATE INDEX identity_conflicts_status ON identity_conflicts (status, id);

-- Moments: what happened, on which identity. Never rewritten by merges or splits.
CREATE TABLE moments (
    id              bigserial PRIMARY KEY,
    identity_id     bigint NOT NULL REFERENCES identities (id),
    kind            text NOT NULL CHECK (kind IN ('form_viewed', 'form_submitted', 'material_sent',
                        'material_opened', 'oa_subscribed', 'oa_unsubscribed', 'oa_scanned',
                        'oa_menu_clicked', 'mp_authorized', 'wecom_added', 'wecom_deleted_by_customer',
                        'wecom_deleted_by_staff', 'wecom_tagged', 'group_joined', 'group_left',
                        'crm_created', 'crm_converted', 'crm_updated', 'member_level_changed',
                        'identity_merged', 'identity_split')),
    occurred_at     timestamptz NOT NULL,
    channel         text NOT NULL DEFAULT '',
    employee_userid text NOT NULL DEFAULT '',
    title           text NOT NULL DEFAULT '',
    detail          jsonb NOT NULL DEFAULT '{}',
    dedup_key       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT moments_dedup UNIQUE (dedup_key)
);
CREATE INDEX moments_timeline ON moments (identity_id, occurred_at DESC, id DESC);
CREATE INDEX moments_timeline_kind ON moments (identity_id, kind, occurred_at DESC, id DESC);

-- CRM API keys: only the SHA-256 of the key is kept.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- Idempotency-Key records of the CRM API: the first answer is replayed.
CREATE TABLE api_idempotency (
    api_key_id   bigint NOT NULL REFERENCES api_keys (id),
    idem_key     text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL DEFAULT 0, -- 0 while the first request runs
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idem_key)
);

-- identity_resolve returns the live user id behind id (following merged_into).
-- +goose StatementBegin
CREATE FUNCTION identity_resolve(p_id bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur  bigint := p_id;
    nxt  bigint;
BEGIN
    FOR hop IN 1..64 LOOP
        SELECT merged_into INTO nxt FROM marketing_users WHERE id = cur;
        IF NOT FOUND THEN RETURN NULL; END IF;
        IF nxt IS NULL THEN RETURN cur; END IF;
        cur := nxt;
    END LOOP;
    RAISE EXCEPTION 'identity_resolve: merge chain of % too long', p_id;
END $$;
-- +goose StatementEnd

-- identity_merge_users moves every identity of p_loser to p_survivor, marks
-- the loser absorbed (compressing chains), logs it and records an
-- identity_merged moment. Callers hold FOR UPDATE locks on both users.
-- Moments are not touched: they follow their identities.
-- +goose StatementBegin
CREATE FUNCTION identity_merge_users(p_loser bigint, p_survivor bigint, p_via_from bigint, p_via_into bigint,
    p_via_kind text, p_reason text, p_source text, p_ref text, p_verified boolean, p_actor text,
    p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved   integer;
    phones  integer;
    log_id  bigint;
    mark    bigint;
BEGIN
    UPDATE identities SET user_id = p_survivor WHERE user_id = p_loser;
    GET DIAGNOSTICS moved = ROW_COUNT;
    SELECT n_phones INTO phones FROM marketing_users WHERE id = p_loser;
    UPDATE marketing_users SET merged_into = p_survivor, updated_at = now() WHERE merged_into = p_loser;
    UPDATE marketing_users SET merged_into = p_survivor, n_identities = 0, n_phones = 0, updated_at = now()
     WHERE id = p_loser;
    UPDATE marketing_users SET n_identities = n_identities + moved, n_phones = n_phones + phones, updated_at = now()
     WHERE id = p_survivor;
    INSERT INTO identity_merge_log (kind, from_user, into_user, moved, via_from, via_into, via_kind, reason,
                                    ev_source, ev_ref, ev_verified, actor, occurred_at)
    VALUES ('merge', p_loser, p_survivor, moved, p_via_from, p_via_into, p_via_kind, p_reason,
            p_source, p_ref, p_verified, p_actor, p_at)
    RETURNING id INTO log_id;
    mark := coalesce(p_via_from, p_via_into,
                     (SELECT min(id) FROM identities WHERE user_id = p_survivor));
    INSERT INTO moments (identity_id, kind, occurred_at, channel, title, detail, dedup_key)
    VALUES (mark, 'identity_merged', p_at, p_source, '',
            jsonb_build_object('merge_log_id', log_id, 'from_user', p_loser, 'into_user', p_survivor,
                               'moved', moved, 'via_kind', p_via_kind, 'reason', p_reason),
            'identity_merged:' || log_id);
    RETURN log_id;
END $$;
-- +goose StatementEnd

-- identity_link links one observation in one round trip.
--
-- Inputs are parallel arrays, one element per identity of the observation,
-- distinct keys, ordered by decreasing strength (unionid, platform ids,
-- verified phone, member, CRM ids, unverified phone); the caller has removed
-- blocked values. Moments (m_*) name their identity by its 1-based position.
--
-- Protocol: advisory locks on the sorted key hashes (deadlock-free among
-- links), lookup of the keys' owners, FOR UPDATE on the candidate users in id
-- order, then the greedy rule check in strength order: each candidate joins
-- the group unless it would break a rule (one unionid, max phones, max
-- identities, a split guard, the unverified-phone setting), in which case a
-- conflict is recorded. New identities join the group, or when they would
-- break a rule, an overflow user of their own (also a conflict). Merges are
-- union by size (ties: the older user survives).
-- +goose StatementBegin
CREATE FUNCTION identity_link(
    p_kinds text[], p_scopes text[], p_keys text[], p_phones bytea[], p_verified boolean[], p_attrs jsonb[],
    p_source text, p_ref text, p_at timestamptz,
    m_idx integer[], m_kinds text[], m_at timestamptz[], m_channels text[], m_employees text[],
    m_titles text[], m_details jsonb[], m_dedup text[],
    OUT user_id bigint, OUT outcome text, OUT identity_ids bigint[], OUT conflict_ids bigint[],
    OUT merged_from bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    n          integer := coalesce(cardinality(p_keys), 0);
    h          bigint;
    owners     bigint[];
    owners2    bigint[];
    cands      bigint[];
    cfg        identity_settings%ROWTYPE;
    r          record;
    -- group state
    g_users    bigint[] := '{}';   -- existing users accepted into the group
    g_ident    integer := 0;
    g_phones   integer := 0;
    g_union    boolean := false;
    g_anchor   integer := 0;        -- position of the first input in the group
    refused    bigint[] := '{}';
    ref_reason text[] := '{}';
    ref_pos    integer[] := '{}';
    new_ok     integer[] := '{}';
    new_bad    integer[] := '{}';
    bad_reason text;
    u          bigint;
    u_ident    integer;
    u_phones   integer;
    u_union    boolean;
    u_created  timestamptz;
    s_ident    integer;
    s_created  timestamptz;
    why        text;
    survivor   bigint;
    loser      bigint;
    via_from   bigint;
    ovf        bigint;
    cid        bigint;
    created    boolean := false;
    new_ids    bigint[];
    anchor_id  bigint;
    attempt    integer := 0;
BEGIN
    identity_ids := array_fill(NULL::bigint, ARRAY[n]);
    conflict_ids := '{}';
    merged_from := '{}';
    IF n = 0 THEN
        RAISE EXCEPTION 'identity_link: no identities' USING ERRCODE = '22023';
    END IF;

    -- 1. Serialise concurrent links of the same keys; sorted, so deadlock-free.
    FOR h IN SELECT DISTINCT hashtextextended(k || chr(31) || s || chr(31) || v, 0)
               FROM unnest(p_kinds, p_scopes, p_keys) AS x(k, s, v) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;

    -- 2. Owners of the keys; 3. lock the candidate users and confirm.
    LOOP
        attempt := attempt + 1;
        SELECT array_agg(i.id ORDER BY x.ord), array_agg(i.user_id ORDER BY x.ord)
          INTO identity_ids, owners
          FROM unnest(p_kinds, p_scopes, p_keys) WITH ORDINALITY AS x(k, s, v, ord)
          LEFT JOIN identities i ON i.kind = x.k AND i.scope = x.s AND i.key = x.v;
        SELECT array_agg(DISTINCT o) INTO cands FROM unnest(owners) o WHERE o IS NOT NULL;
        cands := coalesce(cands, '{}');
        -- Re-observation of one user's keys: nothing to lock.
        IF cardinality(cands) = 1 AND array_position(owners, NULL) IS NULL THEN
            user_id := cands[1];
            outcome := 'attached';
            EXIT;
        END IF;
        EXIT WHEN cardinality(cands) = 0;
        PERFORM 1 FROM marketing_users m WHERE m.id = ANY (cands) ORDER BY m.id FOR UPDATE;
        SELECT array_agg(i.user_id ORDER BY x.ord) INTO owners2
          FROM unnest(p_kinds, p_scopes, p_keys) WITH ORDINALITY AS x(k, s, v, ord)
          LEFT JOIN identities i ON i.kind = x.k AND i.scope = x.s AND i.key = x.v;
        EXIT WHEN owners2 IS NOT DISTINCT FROM owners;
        IF attempt >= 10 THEN
            RAISE EXCEPTION 'identity_link: owners keep changing' USING ERRCODE = '40001';
        END IF;
    END LOOP;

    IF outcome IS NULL THEN
        SELECT * INTO cfg FROM identity_settings;
        -- 4. Greedy group building in strength order.
        FOR i IN 1..n LOOP
            u := owners[i];
            IF u IS NULL THEN
                -- a new identity
                IF p_kinds[i] = 'unionid' AND g_union THEN
                    bad_reason := 'unionid';
                ELSIF p_kinds[i] = 'phone' AND g_phones + 1 > cfg.max_phones THEN
                    bad_reason := 'max_phones';
                ELSIF g_ident + 1 > cfg.max_identities THEN
                    bad_reason := 'max_identities';
                ELSE
                    new_ok := new_ok || i;
                    g_ident := g_ident + 1;
                    g_phones := g_phones + (p_kinds[i] = 'phone')::int;
                    g_union := g_union OR p_kinds[i] = 'unionid';
                    IF g_anchor = 0 THEN g_anchor := i; END IF;
                    CONTINUE;
                END IF;
                new_bad := new_bad || i;
                CONTINUE;
            END IF;
            IF u = ANY (g_users) OR u = ANY (refused) THEN CONTINUE; END IF;
            SELECT m.n_identities, m.n_phones, m.created_at,
                   EXISTS (SELECT 1 FROM identities x WHERE x.user_id = m.id AND x.kind = 'unionid')
              INTO u_ident, u_phones, u_created, u_union
              FROM marketing_users m WHERE m.id = u;
            why := NULL;
            IF g_anchor = 0 THEN
                NULL; -- the first member of the group
            ELSIF g_union AND u_union THEN
                why := 'unionid';
            ELSIF g_phones + u_phones > cfg.max_phones THEN
                why := 'max_phones';
            ELSIF g_ident + u_ident > cfg.max_identities THEN
                why := 'max_identities';
            ELSIF cardinality(g_users) > 0 AND p_kinds[i] = 'phone' AND NOT p_verified[i]
                  AND NOT cfg.merge_unverified_phone THEN
                why := 'unverified_phone';
            ELSIF cardinality(g_users) > 0 AND EXISTS (
                    SELECT 1 FROM identity_split_members a
                      JOIN identity_split_members b ON b.split_id = a.split_id AND b.side <> a.side
                      JOIN identities ia ON ia.id = a.identity_id
                      JOIN identities ib ON ib.id = b.identity_id
                     WHERE ia.user_id = ANY (g_users) AND ib.user_id = u) THEN
                why := 'split';
            END IF;
            IF why IS NULL THEN
                g_users := g_users || u;
                g_ident := g_ident + u_ident;
                g_phones := g_phones + u_phones;
                g_union := g_union OR u_union;
                IF g_anchor = 0 THEN g_anchor := i; END IF;
            ELSE
                refused := refused || u;
                ref_reason := ref_reason || why;
                ref_pos := ref_pos || i;
            END IF;
        END LOOP;

        -- 5. Write: the group's user (survivor of the merges, or a new user).
        IF cardinality(g_users) = 0 THEN
            -- born with its counters: no second write of the row
            INSERT INTO marketing_users (n_identities, n_phones)
            VALUES (cardinality(new_ok), (SELECT count(*) FROM unnest(new_ok) p WHERE p_kinds[p] = 'phone'))
            RETURNING id INTO user_id;
            created := true;
        ELSE
            user_id := g_users[1];
            FOR k IN 2..cardinality(g_users) LOOP
                u := g_users[k];
                SELECT n_identities, created_at INTO s_ident, s_created FROM marketing_users WHERE id = user_id;
                SELECT n_identities, created_at INTO u_ident, u_created FROM marketing_users WHERE id = u;
                IF u_ident > s_ident OR (u_ident = s_ident AND (u_created, u) < (s_created, user_id)) THEN
                    survivor := u; loser := user_id;
                ELSE
                    survivor := user_id; loser := u;
                END IF;
                -- the evidence: the first input owned by u and the first owned by
                -- the users already merged
                SELECT identity_ids[o.ord] INTO via_from FROM unnest(owners) WITH ORDINALITY o(w, ord)
                 WHERE o.w = u ORDER BY o.ord LIMIT 1;
                SELECT identity_ids[o.ord] INTO anchor_id FROM unnest(owners) WITH ORDINALITY o(w, ord)
                 WHERE o.w = ANY (g_users[1:k - 1]) ORDER BY o.ord LIMIT 1;
                PERFORM identity_merge_users(loser, survivor,
                    CASE WHEN loser = u THEN via_from ELSE anchor_id END,
                    CASE WHEN loser = u THEN anchor_id ELSE via_from END,
                    p_kinds[array_position(owners, u)], 'link', p_source, p_ref,
                    p_verified[array_position(owners, u)], '', p_at);
                merged_from := merged_from || loser;
                user_id := survivor;
            END LOOP;
        END IF;

        -- New identities: those accepted join the group, refused ones an overflow user.
        IF cardinality(new_ok) + cardinality(new_bad) > 0 THEN
            new_ids := ARRAY(SELECT nextval(pg_get_serial_sequence('identities', 'id'))
                               FROM generate_series(1, cardinality(new_ok) + cardinality(new_bad)));
            FOR k IN 1..cardinality(new_ok) LOOP
                identity_ids[new_ok[k]] := new_ids[k];
            END LOOP;
            FOR k IN 1..cardinality(new_bad) LOOP
                identity_ids[new_bad[k]] := new_ids[cardinality(new_ok) + k];
            END LOOP;
            IF cardinality(new_bad) > 0 THEN
                INSERT INTO marketing_users (n_identities, n_phones)
                SELECT count(*), count(*) FILTER (WHERE p_kinds[b] = 'phone') FROM unnest(new_bad) b
                RETURNING id INTO ovf;
            END IF;
            -- new identities hang off the group's first known identity (so the
            -- graph stays connected), else off the first new one
            SELECT identity_ids[o.ord] INTO anchor_id FROM unnest(owners) WITH ORDINALITY o(w, ord)
             WHERE o.w = ANY (g_users) ORDER BY o.ord LIMIT 1;
            IF anchor_id IS NULL AND cardinality(new_ok) > 0 THEN
                anchor_id := identity_ids[new_ok[1]];
            END IF;
            INSERT INTO identities (id, user_id, kind, scope, key, phone, verified, attrs, linked_to, seen_with,
                                    ev_source, ev_ref, ev_verified, first_seen, last_seen)
            SELECT identity_ids[p], CASE WHEN ok THEN user_id ELSE ovf END,
                   p_kinds[p], p_scopes[p], p_keys[p], nullif(p_phones[p], ''::bytea), p_verified[p],
                   coalesce(p_attrs[p], '{}'), edge, edge, p_source, p_ref, p_verified[p], p_at, p_at
              FROM (SELECT p, ok, CASE WHEN ok THEN nullif(anchor_id, identity_ids[p])
                                       ELSE nullif(identity_ids[new_bad[1]], identity_ids[p]) END AS edge
                      FROM (SELECT p, true AS ok FROM unnest(new_ok) p
                            UNION ALL SELECT p, false FROM unnest(new_bad) p) y) x
             ORDER BY p;
            IF cardinality(new_ok) > 0 AND NOT created THEN
                UPDATE marketing_users m
                   SET n_identities = m.n_identities + cardinality(new_ok),
                       n_phones = m.n_phones + (SELECT count(*) FROM unnest(new_ok) p WHERE p_kinds[p] = 'phone'),
                       updated_at = now()
                 WHERE m.id = user_id;
            END IF;
            IF cardinality(new_bad) > 0 THEN
                INSERT INTO identity_conflicts AS c (user_a, user_b, reason, via_kind, via_identity,
                                                     ev_source, ev_ref, ev_verified, occurred_at)
                VALUES (user_id, ovf, 'new_' || CASE
                            WHEN p_kinds[new_bad[1]] = 'unionid' AND g_union THEN 'unionid'
                            WHEN p_kinds[new_bad[1]] = 'phone' AND g_phones + 1 > cfg.max_phones THEN 'max_phones'
                            ELSE 'max_identities' END,
                        p_kinds[new_bad[1]], identity_ids[new_bad[1]], p_source, p_ref, p_verified[new_bad[1]], p_at)
                RETURNING id INTO cid;
                conflict_ids := conflict_ids || cid;
            END IF;
        END IF;

        -- Conflicts with refused existing users (repeats bump the open row).
        FOR k IN 1..cardinality(refused) LOOP
            INSERT INTO identity_conflicts AS c (user_a, user_b, reason, via_kind, via_identity,
                                                 ev_source, ev_ref, ev_verified, occurred_at)
            VALUES (user_id, refused[k], ref_reason[k], p_kinds[ref_pos[k]], identity_ids[ref_pos[k]],
                    p_source, p_ref, p_verified[ref_pos[k]], p_at)
            ON CONFLICT (LEAST(user_a, user_b), GREATEST(user_a, user_b), reason) WHERE status = 'open'
            DO UPDATE SET seen = c.seen + 1, occurred_at = EXCLUDED.occurred_at
            RETURNING id INTO cid;
            conflict_ids := conflict_ids || cid;
        END LOOP;

        outcome := CASE WHEN cardinality(conflict_ids) > 0 THEN 'conflict'
                        WHEN cardinality(merged_from) > 0 THEN 'merged'
                        WHEN created THEN 'created'
                        ELSE 'attached' END;
    END IF;

    -- 6. Known identities: refresh last_seen, attributes and verification.
    IF outcome = 'attached' OR cardinality(cands) > 0 THEN
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

    -- 7. Moments, on the identities they were observed on; replays are no-ops.
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
DROP FUNCTION identity_merge_users(bigint, bigint, bigint, bigint, text, text, text, text, boolean, text, timestamptz);
DROP FUNCTION identity_resolve(bigint);
DROP TABLE api_idempotency;
DROP TABLE api_keys;
DROP TABLE moments;
DROP TABLE identity_conflicts;
DROP TABLE identity_split_members;
DROP TABLE identity_merge_log;
DROP TABLE identity_blocklist;
DROP TABLE identity_settings;
DROP TABLE identities;
DROP TABLE marketing_users;
