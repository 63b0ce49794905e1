-- apply benchmark: a 1000-change changeset (update, 5 fields each) through
-- mana_apply_changeset vs one plain SQL UPDATE of the same rows to the same
-- values (unregistered twin table: the floor; and the registered table) vs
-- the hand-written PL/pgSQL peer.  Rounds are interleaved, each in its own
-- transaction; the median of each method is reported.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS b_sync, b_plain, b_reg, b_rows, b_peer, b_times, b_vals CASCADE;
CREATE TABLE b_sync (id text PRIMARY KEY, user_id text NOT NULL, title text, note text,
                     priority int, done boolean, amount numeric);
SELECT mana_sync_enable('b_sync', 'bench') IS NULL AS enabled;
CREATE TABLE b_plain (LIKE b_sync INCLUDING ALL);
CREATE TABLE b_rows (LIKE b_sync INCLUDING ALL);
CREATE TABLE b_peer (LIKE b_sync INCLUDING ALL);
-- a registered twin for the plain UPDATE with the trigger (another app, so
-- its rows are not part of the apply's delta)
CREATE TABLE b_reg (id text PRIMARY KEY, user_id text NOT NULL, title text, note text,
                    priority int, done boolean, amount numeric);
SELECT mana_sync_enable('b_reg', 'bench_plain') IS NULL AS enabled;
INSERT INTO b_sync (id, user_id, title) SELECT 'r' || g, 'u', 't' FROM generate_series(1, 1000) g;
INSERT INTO b_plain (id, user_id, title) SELECT 'r' || g, 'u', 't' FROM generate_series(1, 1000) g;
INSERT INTO b_peer (id, user_id, title) SELECT 'r' || g, 'u', 't' FROM generate_series(1, 1000) g;
INSERT INTO b_reg (id, user_id, title) SELECT 'r' || g, 'u', 't' FROM generate_series(1, 1000) g;
INSERT INTO b_rows (id, user_id, title) SELECT 'r' || g, 'u', 't' FROM generate_series(1, 1000) g;
CREATE TABLE b_times (method text, round int, ms double precision);
CREATE TABLE b_vals (id text PRIMARY KEY, title text, note text, priority int, done boolean, amount numeric);
VACUUM ANALYZE b_sync, b_plain, b_peer, b_reg, b_rows;

CREATE OR REPLACE PROCEDURE b_run(rounds int) LANGUAGE plpgsql AS $$
DECLARE
    r int; cs jsonb; t0 timestamptz; ts text; cursor text; res jsonb; vr record;
BEGIN
    cursor := mana_pull('bench', 'b_sync', NULL, 'u', NULL, 10000)->>'syncedUntil';
    FOR r IN 1..rounds LOOP
        -- every round's field times are later than all before: every field wins
        ts := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
        TRUNCATE b_vals;
        INSERT INTO b_vals SELECT 'r' || g, 'title ' || r || ' ' || g, 'note ' || r, r * 10 + g % 7, (r + g) % 2 = 0, r * 1.5 + g
          FROM generate_series(1, 1000) g;
        SELECT jsonb_build_object('appId', 'bench', 'clientId', 'bench-client', 'since', cursor,
                 'changes', jsonb_agg(jsonb_build_object('table', 'b_sync', 'id', v.id, 'op', 'update', 'fields',
                   jsonb_build_object('title', jsonb_build_object('value', v.title, 'at', ts),
                                      'note', jsonb_build_object('value', v.note, 'at', ts),
                                      'priority', jsonb_build_object('value', v.priority, 'at', ts),
                                      'done', jsonb_build_object('value', v.done, 'at', ts),
                                      'amount', jsonb_build_object('value', v.amount, 'at', ts)))))
          INTO cs FROM b_vals v;
        COMMIT;

        t0 := clock_timestamp();
        res := mana_apply_changeset(cs, 'u');
        INSERT INTO b_times VALUES ('mana_apply_changeset', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        cursor := res->>'syncedUntil';
        IF jsonb_array_length(res->'conflicts') <> 0 THEN
            RAISE EXCEPTION 'expected every field to win, got % conflicts', jsonb_array_length(res->'conflicts');
        END IF;
        COMMIT;

        t0 := clock_timestamp();
        UPDATE b_plain t SET title = v.title, note = v.note, priority = v.priority, done = v.done, amount = v.amount
          FROM b_vals v WHERE t.id = v.id;
        INSERT INTO b_times VALUES ('plain UPDATE, unregistered table', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;

        t0 := clock_timestamp();
        UPDATE b_reg t SET title = v.title, note = v.note, priority = v.priority, done = v.done, amount = v.amount
          FROM b_vals v WHERE t.id = v.id;
        INSERT INTO b_times VALUES ('plain UPDATE, registered table', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;

        t0 := clock_timestamp();
        FOR vr IN SELECT * FROM b_vals LOOP
            UPDATE b_rows SET title = vr.title, note = vr.note, priority = vr.priority, done = vr.done, amount = vr.amount
             WHERE id = vr.id;
        END LOOP;
        INSERT INTO b_times VALUES ('1000 single-row UPDATEs, unregistered table', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;

        t0 := clock_timestamp();
        res := plpgsql_apply_changeset(cs, 'u', 'b_peer');
        INSERT INTO b_times VALUES ('PL/pgSQL peer', r, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;
    END LOOP;
END $$;

CALL b_run(3);    -- warm-up
TRUNCATE b_times;
CALL b_run(:rounds);

-- all three wrote the same values
SELECT (SELECT count(*) FROM b_sync s JOIN b_plain p USING (id)
         WHERE (s.title, s.note, s.priority, s.done, s.amount) IS NOT DISTINCT FROM (p.title, p.note, p.priority, p.done, p.amount)) AS same_as_plain,
       (SELECT count(*) FROM b_sync s JOIN b_peer p USING (id)
         WHERE (s.title, s.note, s.priority, s.done, s.amount) IS NOT DISTINCT FROM (p.title, p.note, p.priority, p.done, p.amount)) AS same_as_peer;

\pset format unaligned
\pset fieldsep '|'
\pset tuples_only on
\o :outfile
SELECT method, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
  FROM b_times GROUP BY method ORDER BY method;
\o
