-- Malformed changesets: each is refused with a documented SQLSTATE and
-- changes nothing.
CREATE FUNCTION try_apply(cs text, uid text DEFAULT 'alice') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text;
BEGIN
    PERFORM mana_apply_changeset(cs::jsonb, uid);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ' ' || msg || coalesce(' | ' || nullif(det, ''), '');
END $$;
CREATE FUNCTION snapshot_all() RETURNS text LANGUAGE sql AS $$
    SELECT md5(coalesce((SELECT string_agg(t::text, '' ORDER BY id) FROM tasks t), '') ||
               coalesce((SELECT string_agg(k::text, '' ORDER BY id) FROM kinds k), '') ||
               coalesce((SELECT string_agg(i::text, '' ORDER BY id) FROM items i), '')) $$;
SELECT snapshot_all() AS before \gset

CREATE TABLE cases (n serial, label text, cs text, uid text DEFAULT 'alice');
INSERT INTO cases (label, cs) VALUES
 ('not an object',              '[1,2]'),
 ('a string',                   '"changes"'),
 ('no appId',                   '{"changes":[]}'),
 ('appId not a string',         '{"appId":7,"changes":[]}'),
 ('unknown app',                '{"appId":"nope","changes":[]}'),
 ('no changes',                 '{"appId":"todo"}'),
 ('changes not an array',       '{"appId":"todo","changes":{"a":1}}'),
 ('change not an object',       '{"appId":"todo","changes":[42]}'),
 ('missing table',              '{"appId":"todo","changes":[{"id":"x","op":"insert","data":{}}]}'),
 ('table not a string',         '{"appId":"todo","changes":[{"table":1,"id":"x","op":"insert","data":{}}]}'),
 ('missing id',                 '{"appId":"todo","changes":[{"table":"tasks","op":"insert","data":{}}]}'),
 ('id not a string',            '{"appId":"todo","changes":[{"table":"tasks","id":5,"op":"insert","data":{}}]}'),
 ('empty id',                   '{"appId":"todo","changes":[{"table":"tasks","id":"","op":"insert","data":{}}]}'),
 ('huge id',                    '{"appId":"todo","changes":[{"table":"tasks","id":"' || repeat('x', 257) || '","op":"insert","data":{}}]}'),
 ('missing op',                 '{"appId":"todo","changes":[{"table":"tasks","id":"x","data":{}}]}'),
 ('invalid op',                 '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"upsert","data":{}}]}'),
 ('unknown table',              '{"appId":"todo","changes":[{"table":"nope","id":"x","op":"insert","data":{}}]}'),
 ('table of another app',       '{"appId":"todo","changes":[{"table":"items","id":"x","op":"insert","data":{}}]}'),
 ('unknown field',              '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"colour":{"value":"red","at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('quotes and semicolons',      '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"title\"; DROP TABLE tasks; --":{"value":1,"at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('table name injection',       '{"appId":"todo","changes":[{"table":"tasks; DROP TABLE tasks","id":"x","op":"insert","data":{}}]}'),
 ('wrong type',                 '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"priority":{"value":"high","at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('object for a boolean',       '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"isCompleted":{"value":{},"at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('field not an object',        '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"title":"plain"}}]}'),
 ('fields not an object',       '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":[1]}]}'),
 ('data not an object',         '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"insert","data":"x"}]}'),
 ('update without fields',      '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update"}]}'),
 ('absent timestamp',           '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"title":{"value":"t"}}}]}'),
 ('number timestamp',           '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"title":{"value":"t","at":1767225600000}}}]}'),
 ('word timestamp',             '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"title":{"value":"t","updatedAt":"yesterday"}}}]}'),
 ('impossible date',            '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"title":{"value":"t","updatedAt":"2026-02-30T00:00:00.000Z"}}}]}'),
 ('bad data.updatedAt',         '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"insert","data":{"title":"t","updatedAt":"soon"}}]}'),
 ('delete without deletedAt',   '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"delete"}]}'),
 ('delete with bad deletedAt',  '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"delete","deletedAt":"2026-13-01T00:00:00Z"}]}'),
 ('managed field',              '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"version":{"value":99,"at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('owner field',                '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":{"userId":{"value":"bob","at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('data.id differs',            '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"insert","data":{"id":"y","title":"t"}}]}'),
 ('clientId not a string',      '{"appId":"todo","clientId":["a"],"changes":[]}'),
 ('clientId too long',          '{"appId":"todo","clientId":"' || repeat('c', 129) || '","changes":[]}'),
 ('bad since',                  '{"appId":"todo","since":"last tuesday","changes":[]}'),
 ('another user''s row',        '{"appId":"todo","changes":[{"table":"tasks","id":"secret","op":"update","fields":{"title":{"value":"mine","at":"2030-01-01T00:00:00.000Z"}}}]}'),
 ('bad uuid id',                '{"appId":"types","changes":[{"table":"kinds","id":"123","op":"update","fields":{"label":{"value":"x","at":"2030-01-01T00:00:00.000Z"}}}]}'),
 ('too many fields',            '{"appId":"todo","changes":[{"table":"tasks","id":"x","op":"update","fields":' ||
                                  (SELECT jsonb_object_agg('f' || g, jsonb_build_object('value', g, 'at', '2026-01-01T00:00:00.000Z'))::text FROM generate_series(1, 1001) g) || '}]}'),
 ('valid first, bad second',    '{"appId":"todo","changes":[{"table":"tasks","id":"ok1","op":"insert","data":{"title":"fine","updatedAt":"2026-01-01T00:00:00.000Z"}},{"table":"tasks","id":"ok2","op":"update","fields":{"priority":{"value":"NaN","at":"2026-01-01T00:00:00.000Z"}}}]}'),
 ('not JSON at all',            '{"appId": "todo", changes: }');
UPDATE cases SET uid = 'bob' WHERE label = 'another user''s row';
UPDATE cases SET uid = 'ursula' WHERE label = 'bad uuid id';

SELECT n, label, try_apply(cs, uid) AS result FROM cases ORDER BY n;
SELECT count(*) AS cases, count(*) FILTER (WHERE try_apply(cs, uid) = 'accepted') AS accepted FROM cases;

-- too many changes
SET mana_sync.max_changes = 3;
SELECT try_apply('{"appId":"todo","changes":[{},{},{},{}]}');
RESET mana_sync.max_changes;
-- a null changeset
SELECT mana_apply_changeset(NULL, 'alice');

-- nothing changed anywhere
SELECT snapshot_all() = :'before' AS unchanged;
SELECT count(*) AS injected_tables FROM pg_class WHERE relname LIKE '%DROP%';
