-- Security review, SQL surface: what runs as whom, and names from the input.

-- every function of the extension runs as its caller: the caller's
-- privileges and row level security apply to all it reads and writes
SELECT p.proname, p.prosecdef AS security_definer
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mana_sync'
 ORDER BY 1;

-- names that SQL would choke on unquoted: a table, its columns and its
-- owner column, registered and synced through every path (trigger, merge,
-- pull); the data with quotes and semicolons is stored as data
CREATE TABLE "Weird ""T""; DROP TABLE tasks; --" (
    "id; --" text PRIMARY KEY,
    "own""er" text NOT NULL,
    "Title ""x""" text,
    "n)" int);
SELECT mana_sync_enable('"Weird ""T""; DROP TABLE tasks; --"', 'weird',
                        owner_column => 'own"er', id_column => 'id; --') IS NOT NULL AS enabled;
SELECT collection FROM mana_sync_tables WHERE app_id = 'weird';
SELECT mana_apply_changeset('{"appId":"weird","clientId":"w1","changes":[
  {"table":"Weird \"T\"; DROP TABLE tasks; --","id":"a''; DROP TABLE tasks; --","op":"insert",
   "data":{"Title \"x\"":"x''); DROP TABLE tasks; --","n)":1,"updatedAt":"2026-05-01T00:00:00.000Z"}}]}', 'mallory')->'conflicts' AS conflicts;
INSERT INTO "Weird ""T""; DROP TABLE tasks; --" VALUES ('plain', 'mallory', 'by SQL', 2);
UPDATE "Weird ""T""; DROP TABLE tasks; --" SET "n)" = 3 WHERE "id; --" = 'plain';
SELECT c->>'id' AS id, c->'data'->'Title "x"' AS title, c->'data'->'n)' AS n, c->'data'->'own"er' AS owner
  FROM jsonb_array_elements(mana_pull('weird', 'Weird "T"; DROP TABLE tasks; --', NULL, 'mallory')->'serverChanges') c
 ORDER BY 1;
SELECT "id; --", "own""er", "Title ""x""", "n)", version FROM "Weird ""T""; DROP TABLE tasks; --" ORDER BY 1;
-- the table the names tried to drop is still there
SELECT count(*) >= 0 AS tasks_still_there FROM tasks;
SELECT mana_sync_disable('"Weird ""T""; DROP TABLE tasks; --"');
DROP TABLE "Weird ""T""; DROP TABLE tasks; --";

-- a collection or app name from the input selects nothing it is not
SELECT mana_pull('todo', 'tasks; DROP TABLE tasks', NULL, 'alice');
SELECT mana_pull('todo'' OR ''1''=''1', 'tasks', NULL, 'alice');
SELECT mana_pull('todo', 'pg_authid', NULL, 'alice');
-- a user id is data, whatever it contains
SELECT jsonb_array_length(mana_pull('todo', 'tasks', NULL, ''' OR ''1''=''1')->'serverChanges') AS rows_for_injected_user;

-- a role with no privilege on a table learns nothing through the functions:
-- not its rows, and not whether an id exists
CREATE ROLE sec_nobody;
SET ROLE sec_nobody;
SELECT mana_pull('todo', 'tasks', NULL, 'alice');
SELECT mana_apply_changeset('{"appId":"todo","changes":[{"table":"tasks","id":"secret","op":"update",
  "fields":{"title":{"value":"x","at":"2026-05-01T00:00:00.000Z"}}}]}', 'alice');
-- (the registry is readable like the catalog: it names tables, no user data)
SELECT count(*) > 0 AS registry_rows_visible FROM mana_sync_tables;
RESET ROLE;
DROP ROLE sec_nobody;
