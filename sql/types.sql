-- Values convert through the column type, in and out.
CREATE TABLE kinds (
    id uuid PRIMARY KEY,
    owner text NOT NULL,
    label text,
    short_label varchar(5),
    amount integer,
    big_amount bigint,
    price numeric(10,2),
    ratio double precision,
    is_done boolean,
    due_at timestamptz,
    local_at timestamp,
    birthday date,
    ref_id uuid,
    meta jsonb,
    tags text[],
    scores int[],
    extra jsonb
);
SELECT mana_sync_enable('kinds', 'types', owner_column => 'owner');

CREATE FUNCTION ins(fields jsonb, rid text DEFAULT '00000000-0000-0000-0000-000000000001',
                    at text DEFAULT '2026-04-01T00:00:00.000Z') RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT mana_apply_changeset(jsonb_build_object('appId', 'types', 'clientId', 'T',
        'changes', jsonb_build_array(jsonb_build_object('table', 'kinds', 'id', rid, 'op', 'update',
            'fields', (SELECT jsonb_object_agg(key, jsonb_build_object('value', value, 'at', at))
                         FROM jsonb_each(fields))))), 'ursula') $$;

SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
SELECT ins('{"label":"hello \"quoted\" ünïcode","shortLabel":"abc","amount":42,"bigAmount":"9007199254740993",
             "price":12.5,"ratio":0.25,"isDone":true,"dueAt":"2026-04-01T12:30:45.678+02:00",
             "localAt":"2026-04-01T08:00:00.000Z","birthday":"2000-02-29",
             "refId":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11","meta":{"k":[1,2,{"x":null}]},
             "tags":["a","b,c","d\"e"],"scores":[1,null,3],"unknownThing":{"kept":true},"createdBy":"me"}')->'conflicts';
-- stored values (the timestamp is the same instant, shown in the session zone)
SELECT id, label, short_label, amount, big_amount, price, ratio, is_done, due_at, local_at, birthday,
       ref_id, meta, tags, scores, extra FROM kinds;
-- outgoing JSON does not depend on TimeZone or DateStyle
SELECT c->'data' - 'updatedAt' AS data, (c->'data'->>'updatedAt')::timestamptz > now() - interval '1 minute' AS updated_now FROM jsonb_array_elements(mana_pull('types', 'kinds', NULL, 'ursula')->'serverChanges') c;
SELECT jsonb_object_keys(c->'fields') AS field FROM jsonb_array_elements(mana_pull('types', 'kinds', NULL, 'ursula')->'serverChanges') c ORDER BY 1;
RESET TimeZone;
RESET DateStyle;

-- snake_case names are accepted too
SELECT ins('{"short_label":"xyz"}', at => '2026-04-02T00:00:00.000Z')->'conflicts';
SELECT short_label FROM kinds;

-- unknown fields go to extra, under LWW per key
SELECT ins('{"unknownThing":"replaced"}', at => '2026-04-02T00:00:00.000Z')->'conflicts';
SELECT extra FROM kinds;

-- conversion errors name the change and the field (and happen before any LWW)
SELECT ins('{"amount":"forty-two"}');
SELECT ins('{"amount":4.5}');
SELECT ins('{"amount":99999999999}');
SELECT ins('{"shortLabel":"too long for five"}');
SELECT ins('{"isDone":"maybe"}');
SELECT ins('{"isDone":1}');
SELECT ins('{"dueAt":"yesterday"}');
SELECT ins('{"dueAt":"2026-02-30T00:00:00.000Z"}');
SELECT ins('{"dueAt":1700000000000}');
SELECT ins('{"birthday":"2001-02-29"}');
SELECT ins('{"birthday":"29/02/2000"}');
SELECT ins('{"refId":"not-a-uuid"}');
SELECT ins('{"tags":"a,b"}');
SELECT ins('{"tags":[["nested"]]}');
SELECT ins('{"scores":[1,"x"]}');
SELECT ins('{"label":{"an":"object"}}');
SELECT ins('{"price":"NaN-ish"}');
SELECT ins('{"x":1}', 'not-a-uuid');
-- nothing of the above was written
SELECT label, amount, is_done, short_label FROM kinds;

-- null clears, numbers and booleans into text columns are kept as text
SELECT ins('{"label":12.50,"amount":null}', at => '2026-04-03T00:00:00.000Z')->'conflicts';
SELECT label, amount FROM kinds;
SELECT ins('{"label":false}', at => '2026-04-04T00:00:00.000Z')->'conflicts';
SELECT label FROM kinds;

-- a table without extra refuses unknown fields
ALTER TABLE kinds DROP COLUMN extra;
SELECT ins('{"unknownThing":1}');
