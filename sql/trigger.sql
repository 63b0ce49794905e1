-- The trigger on plain SQL writes.
CREATE TABLE notes (
    id bigint PRIMARY KEY,
    owner_id text NOT NULL,
    body text,
    pinned boolean DEFAULT false,
    extra jsonb
);
SELECT mana_sync_enable('notes', 'notes', owner_column => 'owner_id');

-- stamps are server time with millisecond precision; show them relative to now
CREATE FUNCTION stamps(nid bigint) RETURNS TABLE (field text, recent boolean)
    LANGUAGE sql AS $$
    SELECT key, (value #>> '{}')::timestamptz BETWEEN now() - interval '1 minute' AND now() + interval '1 second'
      FROM notes, jsonb_each(field_timestamps) WHERE id = nid ORDER BY key $$;

-- INSERT: version 1, every field stamped, the transaction recorded
BEGIN;
INSERT INTO notes (id, owner_id, body) VALUES (1, 'olga', 'first');
SELECT version, sync_xid = pg_current_xact_id() AS my_xid, client_id,
       updated_at = date_trunc('milliseconds', statement_timestamp()) AS stamped FROM notes WHERE id = 1;
COMMIT;
SELECT * FROM stamps(1);

-- UPDATE: only the changed field gets a new stamp, version bumps
UPDATE notes SET field_timestamps = '{"body":"2020-01-01T00:00:00.000Z","pinned":"2020-01-01T00:00:00.000Z"}' WHERE id = 1;
SELECT field_timestamps, version FROM notes WHERE id = 1;
UPDATE notes SET pinned = true WHERE id = 1;
SELECT field_timestamps->>'body' AS body_ts, (field_timestamps->>'pinned')::timestamptz > now() - interval '1 minute' AS pinned_now,
       version FROM notes WHERE id = 1;
-- writing the same value is no change of that field
UPDATE notes SET body = 'first' WHERE id = 1;
SELECT field_timestamps->>'body' AS body_ts, version FROM notes WHERE id = 1;
-- keys of extra are stamped one by one
UPDATE notes SET extra = '{"a":1,"b":2}' WHERE id = 1;
SELECT field FROM stamps(1) WHERE field IN ('a', 'b');
UPDATE notes SET field_timestamps = field_timestamps || '{"a":"2020-01-01T00:00:00.000Z","b":"2020-01-01T00:00:00.000Z"}' WHERE id = 1;
UPDATE notes SET extra = '{"a":1,"b":3}' WHERE id = 1;
SELECT field_timestamps->>'a' AS a_ts, field_timestamps->>'b' <> '2020-01-01T00:00:00.000Z' AS b_restamped FROM notes WHERE id = 1;
-- a server write has no originating client
UPDATE notes SET client_id = 'device-1' WHERE id = 1;
SELECT client_id FROM notes WHERE id = 1;
UPDATE notes SET body = 'edited by the app server' WHERE id = 1;
SELECT client_id FROM notes WHERE id = 1;
-- sync_xid follows the last writer
BEGIN;
UPDATE notes SET body = 'again' WHERE id = 1;
SELECT sync_xid = pg_current_xact_id() AS my_xid FROM notes WHERE id = 1;
COMMIT;

-- the server's writes reach pull with their stamps
SELECT c->'data'->>'body' AS body, c->'fields'->'body'->>'updatedAt' = c->'fields'->'body'->>'at' AS both_names
  FROM jsonb_array_elements(mana_pull('notes', 'notes', NULL, 'olga')->'serverChanges') c;

-- DELETE becomes a soft delete that pull reports
DELETE FROM notes WHERE id = 1;
SELECT id, deleted_at IS NOT NULL AS deleted, field_timestamps ? 'deletedAt' AS stamped FROM notes;
SELECT c->>'op' AS op, c->>'id' AS id FROM jsonb_array_elements(mana_pull('notes', 'notes', NULL, 'olga')->'serverChanges') c;
-- deleting a tombstone again keeps it
DELETE FROM notes WHERE id = 1;
SELECT count(*) FROM notes;
-- mana_sync.hard_delete lets an administrator purge tombstones
SET mana_sync.hard_delete = on;
DELETE FROM notes WHERE deleted_at IS NOT NULL;
RESET mana_sync.hard_delete;
SELECT count(*) FROM notes;

-- a trigger that fires earlier sees its change stamped too
CREATE FUNCTION upcase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.body := upper(NEW.body); RETURN NEW; END $$;
CREATE TRIGGER aa_upcase BEFORE INSERT OR UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION upcase();
INSERT INTO notes (id, owner_id, body) VALUES (2, 'olga', 'shout');
SELECT body, field_timestamps ? 'body' AS stamped FROM notes WHERE id = 2;
DROP TRIGGER aa_upcase ON notes;

-- bulk writes work and every row is stamped
INSERT INTO notes (id, owner_id, body) SELECT g, 'olga', 'n' || g FROM generate_series(10, 509) g;
UPDATE notes SET pinned = true WHERE id >= 10;
SELECT count(*) FILTER (WHERE version = 2 AND field_timestamps ? 'pinned') AS stamped FROM notes WHERE id >= 10;

-- the trigger refuses to run any other way
CREATE TABLE wrong (id int PRIMARY KEY, user_id text);
CREATE TRIGGER t AFTER INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION mana_sync_trigger('a', 'b', 'user_id', 'id');
INSERT INTO wrong VALUES (1, 'x');
DROP TABLE wrong;
SELECT mana_sync_trigger();
