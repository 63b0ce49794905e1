-- Per-field last-write-wins.  Helpers show a row and the parts of a
-- response that matter.
CREATE FUNCTION row_of(tid text) RETURNS TABLE (title text, is_completed boolean, priority int,
        deleted boolean, version int, field_timestamps jsonb)
    LANGUAGE sql AS $$
    SELECT title, is_completed, priority, deleted_at IS NOT NULL, version, field_timestamps
      FROM tasks WHERE id = tid $$;
CREATE FUNCTION apply(cs jsonb, uid text DEFAULT 'alice') RETURNS jsonb
    LANGUAGE sql AS $$ SELECT mana_apply_changeset(cs, uid) $$;
CREATE FUNCTION conflicts_of(r jsonb) RETURNS SETOF jsonb
    LANGUAGE sql AS $$ SELECT jsonb_array_elements(r->'conflicts') $$;
-- an update changeset for row l1
CREATE FUNCTION upd(client text, fields jsonb, tid text DEFAULT 'l1') RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT jsonb_build_object('appId', 'todo', 'clientId', client,
        'changes', jsonb_build_array(jsonb_build_object('table', 'tasks', 'id', tid, 'op', 'update', 'fields', fields))) $$;

SELECT apply('{"appId":"todo","clientId":"A","changes":[{"table":"tasks","id":"l1","op":"insert",
  "data":{"id":"l1","title":"one","isCompleted":false,"priority":1,"updatedAt":"2026-03-01T10:00:00.000Z"}}]}') IS NOT NULL AS inserted;
SELECT * FROM row_of('l1');

-- newer wins
SELECT conflicts_of(apply(upd('B', '{"title":{"value":"two","updatedAt":"2026-03-01T11:00:00.000Z"}}')));
SELECT title, version, field_timestamps->>'title' AS ts FROM row_of('l1');

-- older loses, reported as a conflict with both values, and changes nothing
SELECT conflicts_of(apply(upd('C', '{"title":{"value":"stale","updatedAt":"2026-03-01T10:30:00.000Z"}}')));
SELECT title, version, field_timestamps->>'title' AS ts FROM row_of('l1');
-- the losing push's serverChanges carries the row's winning state
SELECT c->'fields'->'title' AS title_field
  FROM jsonb_array_elements(apply(upd('C', '{"title":{"value":"stale","updatedAt":"2026-03-01T10:30:00.000Z"}}'))->'serverChanges') c
 WHERE c->>'id' = 'l1';

-- equal timestamps: the greater canonical JSON wins, whatever the order
SELECT conflicts_of(apply(upd('D', '{"title":{"value":"alpha","at":"2026-03-01T11:00:00.000Z"}}')));
SELECT title FROM row_of('l1');
SELECT conflicts_of(apply(upd('E', '{"title":{"value":"zulu","at":"2026-03-01T11:00:00.000Z"}}')));
SELECT title FROM row_of('l1');
SELECT conflicts_of(apply(upd('D', '{"title":{"value":"alpha","at":"2026-03-01T11:00:00.000Z"}}')))->>'clientValue' AS lost;
SELECT title FROM row_of('l1');

-- different fields from different devices merge without loss
SELECT jsonb_array_length(apply(upd('A', '{"isCompleted":{"value":true,"updatedAt":"2026-03-01T12:00:00.000Z"}}'))->'conflicts') AS conflicts;
SELECT jsonb_array_length(apply(upd('B', '{"priority":{"value":5,"updatedAt":"2026-03-01T12:00:01.000Z"}}'))->'conflicts') AS conflicts;
SELECT title, is_completed, priority FROM row_of('l1');

-- replaying the same changeset changes nothing: not the values, not the version
SELECT version AS before FROM row_of('l1') \gset
SELECT apply(upd('B', '{"priority":{"value":5,"updatedAt":"2026-03-01T12:00:01.000Z"}}'))->'conflicts' AS conflicts;
SELECT version = :before AS unchanged, priority FROM row_of('l1');

-- a field change without "value" sets the field to null
SELECT apply(upd('B', '{"priority":{"updatedAt":"2026-03-01T12:00:02.000Z"}}'))->'conflicts';
SELECT priority FROM row_of('l1');

-- delete is a field under the same rule
SELECT apply('{"appId":"todo","clientId":"A","changes":[{"table":"tasks","id":"l1","op":"delete","deletedAt":"2026-03-01T13:00:00.000Z"}]}')->'conflicts';
SELECT deleted, field_timestamps->>'deletedAt' AS del_ts FROM row_of('l1');
-- an older edit does not restore it, and an older undelete loses
SELECT jsonb_array_length(apply(upd('B', '{"title":{"value":"edit","updatedAt":"2026-03-01T12:30:00.000Z"}}'))->'conflicts') AS conflicts;
SELECT conflicts_of(apply(upd('B', '{"deletedAt":{"value":null,"updatedAt":"2026-03-01T12:59:00.000Z"}}')))->>'field' AS lost;
SELECT deleted FROM row_of('l1');
-- a pull shows a delete
SELECT c FROM jsonb_array_elements(mana_pull('todo', 'tasks', NULL, 'alice')->'serverChanges') c WHERE c->>'id' = 'l1';
-- a newer undelete restores it
SELECT apply(upd('B', '{"deletedAt":{"value":null,"updatedAt":"2026-03-01T14:00:00.000Z"}}'))->'conflicts';
SELECT deleted, title FROM row_of('l1');

-- a delete of an id never seen leaves a tombstone; an older insert stays deleted
SELECT apply('{"appId":"todo","clientId":"A","changes":[{"table":"tasks","id":"ghost","op":"delete","deletedAt":"2026-03-02T00:00:00.000Z"}]}')->'conflicts';
SELECT deleted, title FROM row_of('ghost');
SELECT apply('{"appId":"todo","clientId":"B","changes":[{"table":"tasks","id":"ghost","op":"insert",
  "data":{"id":"ghost","title":"late","updatedAt":"2026-03-01T00:00:00.000Z"}}]}')->'conflicts' AS c;
SELECT deleted, title FROM row_of('ghost');

-- an update of an id never seen creates the row from its fields
SELECT apply(upd('A', '{"title":{"value":"born in an update","updatedAt":"2026-03-03T00:00:00.000Z"}}', 'u-new'))->'conflicts';
SELECT title, deleted, version FROM row_of('u-new');

-- an insert of an existing id merges field by field, with data.updatedAt as the timestamp
SELECT apply('{"appId":"todo","clientId":"B","changes":[{"table":"tasks","id":"u-new","op":"insert",
  "data":{"id":"u-new","title":"older title","priority":9,"updatedAt":"2026-03-02T00:00:00.000Z"}}]}')->'conflicts' AS c;
SELECT title, priority FROM row_of('u-new');

-- insert then update of one row in one changeset fold in order
SELECT apply('{"appId":"todo","clientId":"A","changes":[
  {"table":"tasks","id":"fold","op":"insert","data":{"id":"fold","title":"v1","updatedAt":"2026-03-04T00:00:00.000Z"}},
  {"table":"tasks","id":"fold","op":"update","fields":{"title":{"value":"v2","updatedAt":"2026-03-04T00:00:01.000Z"}}}]}')->'conflicts';
SELECT title, version FROM row_of('fold');

-- two changesets applied in both orders give identical rows
CREATE FUNCTION converge_once(first jsonb, second jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    PERFORM mana_apply_changeset(first, 'carol');
    PERFORM mana_apply_changeset(second, 'carol');
    SELECT string_agg(format('%s|%s|%s|%s|%s|%s', id, title, is_completed, priority, deleted_at, field_timestamps), ';' ORDER BY id)
      INTO r FROM tasks WHERE user_id = 'carol';
    DELETE FROM tasks WHERE user_id = 'carol';  -- soft
    SET LOCAL mana_sync.hard_delete = on;
    DELETE FROM tasks WHERE user_id = 'carol';
    RETURN r;
END $$;
SELECT '{"appId":"todo","changes":[
   {"table":"tasks","id":"m1","op":"insert","data":{"title":"a","priority":1,"updatedAt":"2026-03-05T00:00:00.000Z"}},
   {"table":"tasks","id":"m1","op":"update","fields":{"title":{"value":"from X","at":"2026-03-05T00:00:05.000Z"},"priority":{"value":2,"at":"2026-03-05T00:00:09.000Z"}}},
   {"table":"tasks","id":"m2","op":"delete","deletedAt":"2026-03-05T00:00:03.000Z"}]}' AS x \gset
SELECT '{"appId":"todo","changes":[
   {"table":"tasks","id":"m1","op":"update","fields":{"title":{"value":"from Y","at":"2026-03-05T00:00:07.000Z"},"priority":{"value":3,"at":"2026-03-05T00:00:09.000Z"},"isCompleted":{"value":true,"at":"2026-03-05T00:00:01.000Z"}}},
   {"table":"tasks","id":"m2","op":"insert","data":{"title":"b","updatedAt":"2026-03-05T00:00:02.000Z"}}]}' AS y \gset
SELECT converge_once(:'x', :'y') = converge_once(:'y', :'x') AS same_rows;
SELECT converge_once(:'x', :'y');
