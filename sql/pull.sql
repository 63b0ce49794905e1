-- mana_pull: deltas, paging with exact resumption, cursors.
CREATE TABLE items (id text PRIMARY KEY, owner text NOT NULL, n int);
SELECT mana_sync_enable('items', 'shop', owner_column => 'owner');
INSERT INTO items SELECT 'i' || lpad(g::text, 3, '0'), 'pat', g FROM generate_series(1, 25) g;
INSERT INTO items SELECT 'o' || g, 'quinn', g FROM generate_series(1, 5) g;

CREATE TABLE cur (name text PRIMARY KEY, v text);
CREATE FUNCTION page(since text, maxc int) RETURNS TABLE (n int, has_more boolean, ids text)
    LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
    r := mana_pull('shop', 'items', since, 'pat', 'device', maxc);
    INSERT INTO cur VALUES ('last', r->>'syncedUntil') ON CONFLICT (name) DO UPDATE SET v = EXCLUDED.v;
    RETURN QUERY SELECT jsonb_array_length(r->'serverChanges'), (r->>'hasMore')::boolean,
        (SELECT min(c->>'id') || '..' || max(c->>'id') FROM jsonb_array_elements(r->'serverChanges') c);
END $$;

-- from the beginning, 10 at a time
SELECT * FROM page(NULL, 10);
SELECT v ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#t~' AS paged_cursor FROM cur;
SELECT * FROM page((SELECT v FROM cur), 10);
-- a write that lands between pages is delivered (now or in the next round), never lost
UPDATE items SET n = n + 100 WHERE id = 'i002';
SELECT * FROM page((SELECT v FROM cur), 10);
SELECT v ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#\d+:\d+:' AS snapshot_cursor FROM cur;
-- the next round has exactly the rows written since the first page
SELECT * FROM page((SELECT v FROM cur), 10);
-- and then nothing
SELECT * FROM page((SELECT v FROM cur), 10);
UPDATE items SET n = 0 WHERE id IN ('i010', 'i020');
SELECT * FROM page((SELECT v FROM cur), 10);
-- the client compares cursors as strings with toISOString()
SELECT v < to_char(now() AT TIME ZONE 'UTC' + interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS sorts_before_later FROM cur;

-- a bare ISO timestamp is accepted as since (legacy clients)
SELECT n FROM page('2000-01-01T00:00:00.000Z', 100);
SELECT n FROM page(to_char(now() AT TIME ZONE 'UTC' + interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 100);
SELECT n FROM page('2026-01-01T00:00:00+02:00', 100);

-- a page position is never applied to another collection
CREATE TABLE shelves (id text PRIMARY KEY, owner text NOT NULL);
SELECT mana_sync_enable('shelves', 'shop', owner_column => 'owner');
INSERT INTO shelves VALUES ('s1', 'pat');
SELECT * FROM page(NULL, 10);
SELECT jsonb_array_length(mana_pull('shop', 'shelves', (SELECT v FROM cur), 'pat')->'serverChanges') AS other_collection;

-- errors
SELECT mana_pull('shop', 'items', 'yesterday', 'pat');
SELECT mana_pull('shop', 'items', '2026-01-01T00:00:00.000Z#garbage', 'pat');
SELECT mana_pull('shop', 'items', '2026-01-01T00:00:00.000Z#5:3:', 'pat');
SELECT mana_pull('shop', 'items', '2026-02-30T00:00:00.000Z', 'pat');
SELECT mana_pull('shop', 'items', NULL, 'pat', max_changes => 0);
SELECT mana_pull('shop', 'nothing', NULL, 'pat');
SELECT mana_pull('nope', 'items', NULL, 'pat');
SELECT mana_pull(NULL, 'items', NULL, 'pat');
SELECT mana_pull('shop', 'items', NULL, 'pat', repeat('c', 200));
