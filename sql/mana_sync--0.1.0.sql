-- mana_sync 0.1.0: local-first sync inside PostgreSQL.
\echo Use "CREATE EXTENSION mana_sync" to load this file. \quit

-- Registered tables.  Anyone may read it (the push worker and apps look up
-- which table serves which collection); a row can only be written by a role
-- that owns (or is a member of the owner of) the table it names, so table
-- owners can enable sync without superuser rights.
CREATE TABLE mana_sync_registry (
    relid        regclass PRIMARY KEY,
    app_id       text NOT NULL CHECK (app_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    collection   text NOT NULL CHECK (length(collection) BETWEEN 1 AND 63),
    owner_column name NOT NULL,
    id_column    name NOT NULL,
    enabled_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, collection)
);
SELECT pg_catalog.pg_extension_config_dump('mana_sync_registry', '');
ALTER TABLE mana_sync_registry ENABLE ROW LEVEL SECURITY;
CREATE POLICY mana_sync_registry_read ON mana_sync_registry FOR SELECT USING (true);
CREATE POLICY mana_sync_registry_owner ON mana_sync_registry FOR ALL
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relid), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = relid), 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON mana_sync_registry TO PUBLIC;

CREATE VIEW mana_sync_tables AS
    SELECT r.relid AS table_name, r.app_id, r.collection, r.owner_column, r.id_column,
           EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid = r.relid AND a.attname = 'extra'
                      AND a.atttypid = 'jsonb'::regtype AND NOT a.attisdropped) AS has_extra,
           r.enabled_at
      FROM mana_sync_registry r
      JOIN pg_catalog.pg_class c ON c.oid = r.relid;
GRANT SELECT ON mana_sync_tables TO PUBLIC;

CREATE FUNCTION mana_sync_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mana_sync_trigger' LANGUAGE C;

CREATE FUNCTION mana_apply_changeset(changeset jsonb, user_id text DEFAULT NULL)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mana_apply_changeset' LANGUAGE C VOLATILE SECURITY INVOKER;

CREATE FUNCTION mana_pull(app_id text, collection text, since text,
                          user_id text DEFAULT NULL, client_id text DEFAULT NULL,
                          max_changes int DEFAULT 1000)
    RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mana_pull' LANGUAGE C VOLATILE SECURITY INVOKER;

-- Enabling is DDL orchestration: it stays in SQL, every name goes through
-- format('%I') or a regclass, and the row trigger it installs is C.
CREATE FUNCTION mana_sync_enable(tbl regclass, app_id text,
                                 owner_column name DEFAULT 'user_id',
                                 id_column name DEFAULT 'id')
    RETURNS void
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $fn$
DECLARE
    rel        record;
    reg        text := format('%I.mana_sync_registry',
                              (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                                WHERE e.extname = 'mana_sync'));
    trg_fn     text := format('%I.mana_sync_trigger',
                              (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                                WHERE e.extname = 'mana_sync'));
    prefix     text;
    has_unique boolean;
    col        record;
BEGIN
    IF tbl IS NULL OR app_id IS NULL OR owner_column IS NULL OR id_column IS NULL THEN
        RAISE EXCEPTION 'mana_sync_enable arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.oid, c.relname, c.relkind, c.relowner, n.nspname
      INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl;
    IF rel.relkind <> 'r' THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Sync can be enabled on ordinary tables only.';
    END IF;
    IF NOT pg_has_role(rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF app_id !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid app id "%"', app_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An app id has 1 to 64 letters, digits, "_", "." or "-".';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = id_column AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', id_column, tbl
            USING ERRCODE = 'undefined_column',
                  HINT = 'Pass the name of the table''s id column as id_column.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = owner_column AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', owner_column, tbl
            USING ERRCODE = 'undefined_column',
                  HINT = 'Pass the name of the column that holds the owning user''s id as owner_column.';
    END IF;
    IF owner_column = id_column THEN
        RAISE EXCEPTION 'owner_column and id_column must differ'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT EXISTS (
        SELECT 1 FROM pg_index i
         WHERE i.indrelid = tbl AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
           AND i.indexprs IS NULL
           AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = tbl AND attname = id_column))
      INTO has_unique;
    IF NOT has_unique THEN
        RAISE EXCEPTION 'table % has no unique index on its id column "%"', tbl, id_column
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'Make the id column the primary key.';
    END IF;
    FOR col IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS have, w.want
                 FROM pg_attribute a
                 JOIN (VALUES ('updated_at', 'timestamp with time zone'), ('deleted_at', 'timestamp with time zone'),
                              ('client_id', 'text'), ('field_timestamps', 'jsonb'), ('version', 'integer'),
                              ('sync_xid', 'xid8')) AS w(name, want) ON w.name = a.attname
                WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped AND format_type(a.atttypid, a.atttypmod) <> w.want
    LOOP
        RAISE EXCEPTION 'column "%" of table % has type %, mana_sync needs %', col.attname, tbl, col.have, col.want
            USING ERRCODE = 'datatype_mismatch';
    END LOOP;

    -- a table dropped while registered leaves a row whose relid is gone
    EXECUTE format('DELETE FROM %s r WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.relid)', reg);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE app_id = $1 AND collection = $2 AND relid <> $3)', reg)
       INTO has_unique USING app_id, rel.relname, tbl;
    IF has_unique THEN
        RAISE EXCEPTION 'app "%" already has a table named "%"', app_id, rel.relname
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'Clients name tables without their schema, so one app can hold one table of each name.';
    END IF;

    -- Existing rows get sync_xid 3 (older than every snapshot): clients with
    -- a cursor from before enabling do not exist; new clients start from
    -- the beginning and get every row.
    EXECUTE format('ALTER TABLE %s
        ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN IF NOT EXISTS deleted_at timestamptz,
        ADD COLUMN IF NOT EXISTS client_id text,
        ADD COLUMN IF NOT EXISTS field_timestamps jsonb NOT NULL DEFAULT ''{}'',
        ADD COLUMN IF NOT EXISTS version integer NOT NULL DEFAULT 1,
        ADD COLUMN IF NOT EXISTS sync_xid xid8 NOT NULL DEFAULT ''3''', tbl);

    prefix := left(rel.relname, 40);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (%I, updated_at)', prefix || '_mana_owner_updated', tbl, owner_column);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (%I, sync_xid, %I)', prefix || '_mana_owner_xid', tbl, owner_column, id_column);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s (deleted_at) WHERE deleted_at IS NOT NULL', prefix || '_mana_deleted', tbl);

    -- "zz_" makes it the last BEFORE trigger, so it sees other triggers' changes
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'zz_mana_sync') THEN
        EXECUTE format('DROP TRIGGER zz_mana_sync ON %s', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER zz_mana_sync BEFORE INSERT OR UPDATE OR DELETE ON %s
                    FOR EACH ROW EXECUTE FUNCTION %s(%L, %L, %L, %L)',
                   tbl, trg_fn, app_id, rel.relname, owner_column, id_column);

    EXECUTE format('INSERT INTO %s AS r (relid, app_id, collection, owner_column, id_column)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (relid) DO UPDATE
                       SET app_id = EXCLUDED.app_id, collection = EXCLUDED.collection,
                           owner_column = EXCLUDED.owner_column, id_column = EXCLUDED.id_column', reg)
      USING tbl, app_id, rel.relname, owner_column, id_column;
END
$fn$;

CREATE FUNCTION mana_sync_disable(tbl regclass) RETURNS void
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    reg text := format('%I.mana_sync_registry',
                       (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                         WHERE e.extname = 'mana_sync'));
BEGIN
    IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'zz_mana_sync') THEN
        EXECUTE format('DROP TRIGGER zz_mana_sync ON %s', tbl);
    END IF;
    EXECUTE format('DELETE FROM %s WHERE relid = $1', reg) USING tbl;
END
$fn$;

REVOKE ALL ON FUNCTION mana_sync_trigger() FROM PUBLIC;

-- The push worker's counters (shared memory).  running is false when
-- mana_sync is not in shared_preload_libraries or the worker is down.
CREATE FUNCTION mana_sync_worker_stats(
    OUT running boolean, OUT pid integer,
    OUT connections bigint, OUT authenticated_users bigint, OUT databases_listened bigint,
    OUT auth_failures bigint, OUT notifications_received bigint, OUT messages_sent bigint,
    OUT hints_coalesced bigint, OUT hints_dropped bigint, OUT listener_reconnects bigint,
    OUT connections_refused bigint, OUT frames_refused bigint,
    OUT ring_hints bigint, OUT ring_overflows bigint, OUT ring_wakeups bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'mana_sync_worker_stats' LANGUAGE C STABLE;
