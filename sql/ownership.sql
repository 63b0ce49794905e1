-- A user never reads, overwrites or learns of another user's row.
SELECT mana_apply_changeset('{"appId":"todo","clientId":"a1","changes":[{"table":"tasks","id":"secret","op":"insert",
  "data":{"title":"alice only","updatedAt":"2026-05-01T00:00:00.000Z"}}]}', 'alice')->'conflicts';
SELECT md5(string_agg(t::text, '' ORDER BY id)) AS before FROM tasks t \gset

-- bob cannot overwrite it, with any op, and the error shows nothing of it
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"secret","op":"update",
  "fields":{"title":{"value":"bob was here","at":"2030-01-01T00:00:00.000Z"}}}]}', 'bob');
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"secret","op":"insert",
  "data":{"title":"bob was here","updatedAt":"2030-01-01T00:00:00.000Z"}}]}', 'bob');
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"secret","op":"delete","deletedAt":"2030-01-01T00:00:00.000Z"}]}', 'bob');
-- nor give a row to someone else
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"gift","op":"insert",
  "data":{"title":"for alice","userId":"alice","updatedAt":"2026-05-01T00:00:00.000Z"}}]}', 'bob');
SELECT md5(string_agg(t::text, '' ORDER BY id)) = :'before' AS unchanged FROM tasks t;

-- bob's pulls and pushes never carry alice's rows
SELECT count(*) AS alice_rows_seen_by_bob
  FROM jsonb_array_elements(mana_pull('todo', 'tasks', NULL, 'bob')->'serverChanges') c
 WHERE c->>'id' IN (SELECT id FROM tasks WHERE user_id = 'alice');
SELECT count(*) AS alice_rows_in_bob_push
  FROM jsonb_array_elements(mana_apply_changeset('{"appId":"todo","changes":[]}', 'bob')->'serverChanges') c
 WHERE c->>'id' IN (SELECT id FROM tasks WHERE user_id = 'alice');
SELECT count(*) > 0 AS alice_sees_hers
  FROM jsonb_array_elements(mana_pull('todo', 'tasks', NULL, 'alice')->'serverChanges') c WHERE c->>'id' = 'secret';

-- the user comes from request.jwt.claims when user_id is NULL (PostgREST)
SET request.jwt.claims = '{"sub":"bob","role":"authenticated"}';
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"bobs","op":"insert",
  "data":{"title":"by claims","updatedAt":"2026-05-01T00:00:00.000Z"}}]}')->'conflicts';
SELECT user_id, title FROM tasks WHERE id = 'bobs';
SELECT count(*) AS via_claims FROM jsonb_array_elements(mana_pull('todo', 'tasks', NULL)->'serverChanges') c WHERE c->>'id' = 'bobs';
SET request.jwt.claims = '{"role":"anon"}';
SELECT mana_apply_changeset('{"appId":"todo","changes":[]}');
RESET request.jwt.claims;
SELECT mana_pull('todo', 'tasks', NULL);
SELECT mana_pull('todo', 'tasks', NULL, '');

-- row level security applies: a role sees and writes only what its policies allow
CREATE ROLE app_user;
GRANT SELECT, INSERT, UPDATE ON tasks TO app_user;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON tasks USING (user_id = current_setting('request.jwt.claims', true)::jsonb->>'sub');
SET ROLE app_user;
SET request.jwt.claims = '{"sub":"bob"}';
SELECT count(*) AS visible FROM tasks;
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"bobs","op":"update",
  "fields":{"title":{"value":"bob under RLS","at":"2026-05-02T00:00:00.000Z"}}}]}')->'conflicts';
-- alice's row is invisible to bob: his insert of its id is refused like any other user's row
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"secret","op":"insert",
  "data":{"title":"bob was here","updatedAt":"2030-01-01T00:00:00.000Z"}}]}');
RESET request.jwt.claims;
RESET ROLE;
SELECT title FROM tasks WHERE id IN ('bobs', 'secret') ORDER BY id;
ALTER TABLE tasks DISABLE ROW LEVEL SECURITY;
DROP POLICY own_rows ON tasks;
-- a role without privileges on the table cannot write it through the function
CREATE ROLE no_priv;
SET ROLE no_priv;
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"np","op":"insert",
  "data":{"title":"x","updatedAt":"2026-05-01T00:00:00.000Z"}}]}', 'mallory');
SELECT mana_pull('todo', 'tasks', NULL, 'mallory');
RESET ROLE;
REVOKE ALL ON tasks FROM app_user;
DROP ROLE app_user, no_priv;
