-- The peer: the same per-field LWW rule written by hand in PL/pgSQL, the way
-- an app developer would without mana_sync.  Used only by the benchmarks.
-- It handles insert/update/delete of one table whose sync columns match
-- mana_sync's, compares field timestamps (ties: greater JSON text wins),
-- writes each row with one dynamic UPDATE/INSERT, and returns the written
-- rows as JSON, as a push response would.
CREATE OR REPLACE FUNCTION plpgsql_apply_changeset(cs jsonb, uid text, tbl regclass)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    ch        jsonb;
    f         record;
    cur       record;
    fts       jsonb;
    col       text;
    sets      text[];
    vals      text[];
    in_ts     timestamptz;
    st_ts     timestamptz;
    cur_val   jsonb;
    wins      boolean;
    out_rows  jsonb := '[]';
    conflicts jsonb := '[]';
    row_json  jsonb;
BEGIN
    FOR ch IN SELECT * FROM jsonb_array_elements(cs->'changes') LOOP
        EXECUTE format('SELECT to_jsonb(t) AS j, field_timestamps, user_id FROM %s t WHERE id = $1 FOR UPDATE', tbl)
           INTO cur USING ch->>'id';
        IF cur.j IS NOT NULL AND cur.user_id <> uid THEN
            RAISE EXCEPTION 'row % belongs to another user', ch->>'id' USING ERRCODE = '42501';
        END IF;
        fts := coalesce(cur.field_timestamps, '{}');
        sets := '{}';
        vals := '{}';
        FOR f IN SELECT key, value FROM jsonb_each(coalesce(ch->'fields', '{}')) LOOP
            col := lower(regexp_replace(f.key, '([A-Z])', '_\1', 'g'));
            in_ts := (coalesce(f.value->>'updatedAt', f.value->>'at'))::timestamptz;
            st_ts := (fts->>f.key)::timestamptz;
            cur_val := cur.j->col;
            wins := st_ts IS NULL OR in_ts > st_ts
                    OR (in_ts = st_ts AND (f.value->'value')::text > coalesce(cur_val::text, 'null'));
            IF wins THEN
                sets := sets || format('%I = ($%s::jsonb->>%s)::%s', col, 2,
                                       quote_literal(f.key),
                                       (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                                         WHERE attrelid = tbl AND attname = col));
                fts := jsonb_set(fts, ARRAY[f.key], to_jsonb(to_char(in_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
            ELSIF in_ts < st_ts OR (f.value->'value')::text < coalesce(cur_val::text, 'null') THEN
                conflicts := conflicts || jsonb_build_object('table', ch->>'table', 'id', ch->>'id', 'field', f.key,
                    'clientValue', f.value->'value', 'serverValue', cur_val);
            END IF;
        END LOOP;
        IF cur.j IS NULL THEN
            EXECUTE format('INSERT INTO %s (id, user_id, field_timestamps) VALUES ($1, $2, $3)', tbl)
              USING ch->>'id', uid, fts;
        END IF;
        IF cardinality(sets) > 0 THEN
            EXECUTE format('UPDATE %s SET %s, field_timestamps = $3 WHERE id = $1 RETURNING to_jsonb(%s.*)',
                           tbl, array_to_string(sets, ', '), tbl)
               INTO row_json
              USING ch->>'id',
                    (SELECT jsonb_object_agg(key, value->'value') FROM jsonb_each(ch->'fields')),
                    fts;
            out_rows := out_rows || row_json;
        END IF;
    END LOOP;
    RETURN jsonb_build_object('serverChanges', out_rows, 'conflicts', conflicts);
END $$;
