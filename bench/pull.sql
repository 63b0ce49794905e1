-- pull benchmark: a 1000-change delta for one user from a table of 10K rows
-- vs one of 1M rows.  The cost must follow the delta, not the table.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS p10k, p1m, p_times CASCADE;
CREATE TABLE p10k (id bigint PRIMARY KEY, user_id text NOT NULL, title text, n int, done boolean);
CREATE TABLE p1m (LIKE p10k INCLUDING ALL);
-- other users' rows first (before sync is enabled, so loading is quick), then the target's
INSERT INTO p10k SELECT g, 'user' || (g % 1000), 'row ' || g, g, false FROM generate_series(1, 9000) g;
INSERT INTO p1m SELECT g, 'user' || (g % 1000), 'row ' || g, g, false FROM generate_series(1, 999000) g;
SELECT mana_sync_enable('p10k', 'pbench'), mana_sync_enable('p1m', 'pbench');
INSERT INTO p10k SELECT 9000000 + g, 'target', 'mine ' || g, g, false FROM generate_series(1, 1000) g;
INSERT INTO p1m SELECT 9000000 + g, 'target', 'mine ' || g, g, false FROM generate_series(1, 1000) g;
-- other users keep writing (their rows carry newer transactions too)
UPDATE p10k SET n = n + 1 WHERE id % 10 = 0 AND user_id <> 'target';
UPDATE p1m SET n = n + 1 WHERE id % 1000 = 0 AND user_id <> 'target';
VACUUM ANALYZE p10k;
VACUUM ANALYZE p1m;
CREATE TABLE p_times (tbl text, round int, ms double precision, n int);

CREATE OR REPLACE PROCEDURE p_run(rounds int) LANGUAGE plpgsql AS $$
DECLARE
    r int; t0 timestamptz; res jsonb; c10k text; c1m text;
BEGIN
    -- the target's cursor is taken, then all 1000 of its rows change
    c10k := mana_pull('pbench', 'p10k', NULL, 'target', NULL, 5000)->>'syncedUntil';
    c1m := mana_pull('pbench', 'p1m', NULL, 'target', NULL, 5000)->>'syncedUntil';
    UPDATE p10k SET done = NOT done WHERE user_id = 'target';
    UPDATE p1m SET done = NOT done WHERE user_id = 'target';
    COMMIT;
    FOR r IN 1..rounds LOOP
        t0 := clock_timestamp();
        res := mana_pull('pbench', 'p10k', c10k, 'target', NULL, 1000);
        INSERT INTO p_times VALUES ('10K rows', r, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                    jsonb_array_length(res->'serverChanges'));
        t0 := clock_timestamp();
        res := mana_pull('pbench', 'p1m', c1m, 'target', NULL, 1000);
        INSERT INTO p_times VALUES ('1M rows', r, extract(epoch FROM clock_timestamp() - t0) * 1000,
                                    jsonb_array_length(res->'serverChanges'));
        COMMIT;
    END LOOP;
END $$;
CALL p_run(5);
TRUNCATE p_times;
CALL p_run(:rounds);
SELECT tbl, min(n) AS changes_min, max(n) AS changes_max FROM p_times GROUP BY tbl ORDER BY tbl;

\pset format unaligned
\pset fieldsep '|'
\pset tuples_only on
\o :outfile
SELECT tbl, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM p_times GROUP BY tbl ORDER BY tbl;
\o
