-- Timestamps too far in the future are clamped to server time and reported.
SET mana_sync.max_future_skew = '1min';
SHOW mana_sync.max_future_skew;

CREATE FUNCTION skewed(at text, tid text DEFAULT 's1') RETURNS jsonb LANGUAGE sql AS $$
    SELECT mana_apply_changeset(jsonb_build_object('appId', 'todo', 'clientId', 'Z',
        'changes', jsonb_build_array(jsonb_build_object('table', 'tasks', 'id', tid, 'op', 'update',
            'fields', jsonb_build_object('title', jsonb_build_object('value', 'from ' || at, 'updatedAt', at))))), 'sam') $$;

-- a client whose clock says 2099
SELECT w->>'type' AS type, w->>'table' AS tbl, w->>'id' AS id, w->>'field' AS field, w->>'requested' AS requested,
       (w->>'applied')::timestamptz BETWEEN now() - interval '1 minute' AND now() + interval '1 second' AS applied_now
  FROM jsonb_array_elements(skewed('2099-01-01T00:00:00.000Z')->'warnings') w;
SELECT title, (field_timestamps->>'title')::timestamptz < now() + interval '1 minute' AS clamped FROM tasks WHERE id = 's1';
-- so a normal write a moment later still wins
SELECT pg_sleep(0.01);
SELECT jsonb_array_length(skewed(to_char(clock_timestamp() AT TIME ZONE 'UTC' + interval '2 seconds', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))->'conflicts') AS conflicts;
SELECT title LIKE 'from 20%' AND title NOT LIKE 'from 2099%' AS later_write_won FROM tasks WHERE id = 's1';
-- within the allowed skew nothing is clamped
SELECT skewed(to_char(clock_timestamp() AT TIME ZONE 'UTC' + interval '30 seconds', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) ? 'warnings' AS warned;
-- the delete time of a future delete is clamped too
SELECT jsonb_array_length(mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"s1","op":"delete","deletedAt":"2150-01-01T00:00:00.000Z"}]}', 'sam')->'warnings') AS warnings;
SELECT deleted_at < now() + interval '1 minute' AS clamped_delete FROM tasks WHERE id = 's1';
-- only a superuser may change the setting
CREATE ROLE skew_user;
SET ROLE skew_user;
SET mana_sync.max_future_skew = '1000d';
RESET ROLE;
DROP ROLE skew_user;
RESET mana_sync.max_future_skew;
