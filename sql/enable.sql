-- Enabling and disabling sync on tables.
SET client_min_messages = warning;

CREATE TABLE tasks (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    title text,
    is_completed boolean DEFAULT false,
    priority integer,
    created_at timestamptz
);
INSERT INTO tasks (id, user_id, title) VALUES ('pre', 'alice', 'made before sync');

SELECT mana_sync_enable('tasks', 'todo');
-- the sync columns and indexes
SELECT attname, format_type(atttypid, atttypmod), attnotnull
  FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attnum > 0 ORDER BY attnum;
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks' ORDER BY indexname;
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'tasks'::regclass;
SELECT table_name, app_id, collection, owner_column, id_column, has_extra FROM mana_sync_tables;
-- the row from before keeps its data and has sync columns with defaults
SELECT id, title, version, field_timestamps, deleted_at IS NULL AS live FROM tasks;

-- idempotent: a second call changes nothing and does not fail
SELECT mana_sync_enable('tasks', 'todo');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'tasks'::regclass;
SELECT count(*) AS indexes FROM pg_indexes WHERE tablename = 'tasks';
SELECT count(*) AS registered FROM mana_sync_tables;

-- refusals
CREATE TABLE no_owner (id text PRIMARY KEY, title text);
SELECT mana_sync_enable('no_owner', 'todo');
SELECT mana_sync_enable('no_owner', 'todo', owner_column => 'title', id_column => 'uid');
CREATE TABLE no_pk (id text, user_id text);
SELECT mana_sync_enable('no_pk', 'todo');
CREATE VIEW tasks_view AS SELECT * FROM tasks;
SELECT mana_sync_enable('tasks_view', 'todo');
SELECT mana_sync_enable('tasks', 'bad app id!');
SELECT mana_sync_enable('tasks', NULL);
CREATE TABLE wrong_types (id text PRIMARY KEY, user_id text, version text);
SELECT mana_sync_enable('wrong_types', 'todo');
CREATE SCHEMA other;
CREATE TABLE other.tasks (id text PRIMARY KEY, user_id text);
SELECT mana_sync_enable('other.tasks', 'todo');
-- same name in another app is fine
SELECT mana_sync_enable('other.tasks', 'notes');
SELECT table_name, app_id, collection FROM mana_sync_tables ORDER BY app_id;

-- only the table's owner may enable it
CREATE ROLE mana_stranger;
CREATE TABLE owned (id text PRIMARY KEY, user_id text);
SET ROLE mana_stranger;
SELECT mana_sync_enable('owned', 'todo');
SELECT mana_sync_disable('tasks');
RESET ROLE;
-- ... and cannot forge the registry either
SET ROLE mana_stranger;
INSERT INTO mana_sync_registry (relid, app_id, collection, owner_column, id_column)
    VALUES ('owned', 'todo', 'owned', 'user_id', 'id');
RESET ROLE;
-- a non-superuser owner can
CREATE ROLE mana_owner;
GRANT CREATE ON SCHEMA public TO mana_owner;
ALTER TABLE owned OWNER TO mana_owner;
SET ROLE mana_owner;
SELECT mana_sync_enable('owned', 'todo');
SELECT collection FROM mana_sync_tables WHERE collection = 'owned';
SELECT mana_sync_disable('owned');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM mana_owner;

-- disable keeps the data and the columns, drops trigger and registration
SELECT mana_sync_enable('no_owner', 'scratch', owner_column => 'title');
INSERT INTO no_owner VALUES ('x', 'someone');
SELECT mana_sync_disable('no_owner');
SELECT id, title, version FROM no_owner;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'no_owner'::regclass;
SELECT count(*) FROM mana_sync_tables WHERE collection = 'no_owner';
-- disabling twice is fine
SELECT mana_sync_disable('no_owner');
-- a dropped table no longer shows, and its name can be registered again
CREATE TABLE gone (id text PRIMARY KEY, user_id text);
SELECT mana_sync_enable('gone', 'todo');
DROP TABLE gone;
SELECT count(*) FROM mana_sync_tables WHERE collection = 'gone';
CREATE TABLE gone (id text PRIMARY KEY, user_id text);
SELECT mana_sync_enable('gone', 'todo');
SELECT count(*) FROM mana_sync_tables WHERE collection = 'gone';
DROP TABLE gone;
DROP TABLE no_owner, no_pk, wrong_types, owned;
DROP VIEW tasks_view;
DROP TABLE other.tasks;
DROP SCHEMA other;
DROP ROLE mana_stranger, mana_owner;
