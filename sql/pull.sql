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

-- a push answers what the client does not hold yet, and its cursor covers the push
-- (field times are seconds after a base taken now: later than the rows' server stamps, within the skew)
INSERT INTO cur VALUES ('base', now()::text);
CREATE FUNCTION push(cid text, since text, n int, sec int, rid text DEFAULT 'e1') RETURNS jsonb LANGUAGE sql AS $$
    SELECT mana_apply_changeset(jsonb_build_object('appId', 'shop', 'clientId', cid, 'since', since,
        'changes', jsonb_build_array(jsonb_build_object('table', 'items', 'id', rid, 'op', 'update',
            'fields', jsonb_build_object('n', jsonb_build_object('value', n, 'at',
                to_char(((SELECT v FROM cur WHERE name = 'base')::timestamptz + make_interval(secs => sec)) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))))), 'pat') $$;
INSERT INTO cur VALUES ('a', mana_pull('shop', 'items', NULL, 'pat', 'A', 10000)->>'syncedUntil')
    ON CONFLICT (name) DO UPDATE SET v = EXCLUDED.v;
-- a new row with every field: the pusher holds it exactly, nothing comes back
SELECT jsonb_array_length(r->'serverChanges') AS echoed, r->>'syncedUntil' AS c
  FROM (SELECT push('A', (SELECT v FROM cur WHERE name = 'a'), 1, 1) r) x \gset
SELECT :echoed AS echoed;
-- its own edit of a row it knows: nothing comes back
SELECT jsonb_array_length(r->'serverChanges') AS echoed, r->>'syncedUntil' AS c
  FROM (SELECT push('A', :'c', 2, 2) r) x \gset
SELECT :echoed AS echoed;
-- and a pull with the push's cursor does not send it back either
SELECT jsonb_array_length(mana_pull('shop', 'items', :'c', 'pat')->'serverChanges') AS pulled_again;
-- another device changed a row meanwhile: A's next push brings it
SELECT jsonb_array_length(push('B', NULL, 3, 3, 'i005')->'conflicts') AS b_conflicts;
SELECT c->>'id' AS id, c->'data'->>'n' AS n FROM jsonb_array_elements(push('A', :'c', 4, 4)->'serverChanges') c ORDER BY 1;
-- another device wrote A's row later: A's push loses and gets the winning row back
SELECT jsonb_array_length(push('B', NULL, 6, 9)->'conflicts') AS b_conflicts;
SELECT c->>'id' AS id, c->'data'->>'n' AS n FROM jsonb_array_elements(push('A', :'c', 5, 5)->'serverChanges') c WHERE c->>'id' = 'e1';
-- with another trigger on the table the server may have changed what it stored: always answered
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.n := NEW.n * 10; RETURN NEW; END $$;
CREATE TRIGGER aa_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();
SELECT c->>'id' AS id, c->'data'->>'n' AS n FROM jsonb_array_elements(push('A', :'c', 7, 10)->'serverChanges') c WHERE c->>'id' = 'e1';
DROP TRIGGER aa_touch ON items;
-- a device that saw a row only as a tombstone (a delete travels without its
-- fields) and restores it gets the whole row back, though the row's last
-- writer is inside its cursor (found by test/torture)
CREATE TABLE restores (id text PRIMARY KEY, owner text NOT NULL, title text);
SELECT mana_sync_enable('restores', 'shop', owner_column => 'owner') IS NOT NULL AS enabled;
SELECT mana_apply_changeset('{"appId":"shop","clientId":"B","changes":[
  {"table":"restores","id":"r","op":"insert","data":{"title":"milk","updatedAt":"2026-01-01T00:00:01.000Z"}},
  {"table":"restores","id":"r","op":"delete","deletedAt":"2026-01-01T00:00:02.000Z"}]}', 'pat') IS NOT NULL AS applied;
SELECT c->>'op' AS op, c ? 'data' AS has_data
  FROM jsonb_array_elements(mana_pull('shop', 'restores', NULL, 'pat', 'A')->'serverChanges') c;
SELECT mana_pull('shop', 'restores', NULL, 'pat', 'A')->>'syncedUntil' AS c \gset
SELECT mana_apply_changeset(jsonb_build_object('appId', 'shop', 'clientId', 'A', 'since', :'c', 'changes',
  '[{"table":"restores","id":"r","op":"update","fields":{"deletedAt":{"value":null,"at":"2026-01-01T00:00:03.000Z"}}}]'::jsonb),
  'pat') AS r \gset
SELECT c->>'id' AS id, c->'data'->>'title' AS title, c->'data'->>'deletedAt' AS deleted_at
  FROM jsonb_array_elements((:'r'::jsonb)->'serverChanges') c;
DROP TABLE restores;
