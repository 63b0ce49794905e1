#!/usr/bin/env bash
# The main job: install what is needed, build and install mana_sync, start a
# local PostgreSQL 15 with the extension preloaded, and show sync working
# between devices.  The server keeps running afterwards for you to try;
# `bash scripts/demo.sh stop` stops it.
source "$(dirname "$0")/lib.sh"

PORT=${MANA_DEMO_PORT:-55432}
DIR=${MANA_DEMO_DIR:-/tmp/mana-sync-demo}

WEB_PORT=${MANA_DEMO_WEB_PORT:-5173}
TODO_DIR="$MANA_ROOT/examples/todo"

stop_web() {
    if [ -f "$DIR/web.pid" ]; then
        kill "$(cat "$DIR/web.pid")" 2>/dev/null || true
        rm -f "$DIR/web.pid"
    fi
}

if [ "${1:-}" = "stop" ]; then
    stop_web
    mana_stop_cluster "$DIR"
    echo "stopped the demo (PostgreSQL in $DIR and the todo page's server)"
    exit 0
fi

# a demo that fails stops what it started (only that) and says where it stopped
started_cluster=0
failed_at=""
set -E
trap 'failed_at=${failed_at:-"$(basename "${BASH_SOURCE[0]}"):$LINENO: $BASH_COMMAND"}' ERR
demo_failed() {
    local rc=$?
    trap - EXIT
    if [ "$rc" -ne 0 ]; then
        echo >&2
        echo "the demo failed (exit $rc${failed_at:+, at $failed_at}); stopping what it started" >&2
        if [ "$started_cluster" = 1 ]; then
            [ -f "$DIR/log" ] && { echo "-- the last lines of the PostgreSQL log ($DIR/log):" >&2; tail -15 "$DIR/log" >&2; }
            stop_web
            mana_stop_cluster "$DIR"
        fi
    fi
    exit "$rc"
}
trap demo_failed EXIT

mana_install_deps
mana_install_node
mana_build
stop_web
say "starting PostgreSQL 15 on port $PORT (socket in $DIR), shared_preload_libraries = mana_sync"
WS_PORT=${MANA_DEMO_WS_PORT:-3010}
# development only: HS256 tokens signed with this secret are accepted
SECRET=dev-only-secret
started_cluster=1
mana_start_cluster "$DIR" "$PORT" "shared_preload_libraries = 'mana_sync'" \
    "mana_sync.port = $WS_PORT" "mana_sync.jwt_secret = '$SECRET'" \
    "mana_sync.cors_origins = 'http://127.0.0.1:$WEB_PORT,http://localhost:$WEB_PORT'"
export PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER PGDATABASE=postgres

psql -qX -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
CREATE DATABASE todo_demo;
\c todo_demo
CREATE EXTENSION mana_sync;
CREATE TABLE tasks (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    title text NOT NULL DEFAULT '',
    is_completed boolean NOT NULL DEFAULT false,
    created_at timestamptz
);
\o /dev/null
SELECT mana_sync_enable('tasks', 'todo');
\o
-- the web app's table (examples/todo)
CREATE TABLE todos (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    title text NOT NULL DEFAULT '',
    done boolean NOT NULL DEFAULT false,
    created_at timestamptz
);
\o /dev/null
SELECT mana_sync_enable('todos', 'todo');
\o
\echo
\echo '== registered tables'
SELECT table_name, app_id, collection, owner_column, id_column FROM mana_sync_tables;

CREATE TEMP TABLE cursors (device text PRIMARY KEY, since text);
INSERT INTO cursors VALUES ('alice-laptop', NULL), ('alice-phone', NULL), ('bob-phone', NULL);

\echo
\echo '== alice-laptop pushes a new task'
SELECT jsonb_pretty(mana_apply_changeset('{
  "appId": "todo", "clientId": "alice-laptop",
  "changes": [{"table": "tasks", "id": "t-1", "op": "insert",
               "data": {"id": "t-1", "title": "Buy milk", "isCompleted": false,
                        "createdAt": "2026-03-26T14:00:00.000Z", "updatedAt": "2026-03-26T14:00:00.000Z"}}]}',
  'alice') - 'syncedUntil') AS response;

\echo '== alice-phone pulls and receives it'
WITH r AS (SELECT mana_pull('todo', 'tasks', NULL, 'alice', 'alice-phone') AS j),
     s AS (UPDATE cursors SET since = (SELECT j->>'syncedUntil' FROM r) WHERE device = 'alice-phone')
SELECT c->>'op' AS op, c->>'id' AS id, c->'data'->>'title' AS title, c->'data'->>'isCompleted' AS done
  FROM r, jsonb_array_elements(j->'serverChanges') c;

\echo '== bob-phone pulls: another user, sees nothing'
SELECT jsonb_array_length(mana_pull('todo', 'tasks', NULL, 'bob', 'bob-phone')->'serverChanges') AS bobs_changes;

\echo
\echo '== offline, the laptop renames the task and the phone completes it; both push'
SELECT jsonb_array_length(mana_apply_changeset('{"appId": "todo", "clientId": "alice-laptop", "changes": [
  {"table": "tasks", "id": "t-1", "op": "update",
   "fields": {"title": {"value": "Buy oat milk", "updatedAt": "2026-03-26T15:00:00.000Z"}}}]}', 'alice')->'conflicts') AS laptop_conflicts;
SELECT jsonb_array_length(mana_apply_changeset('{"appId": "todo", "clientId": "alice-phone", "changes": [
  {"table": "tasks", "id": "t-1", "op": "update",
   "fields": {"isCompleted": {"value": true, "at": "2026-03-26T15:01:00.000Z"}}}]}', 'alice')->'conflicts') AS phone_conflicts;
\echo '== per-field merge: both edits survive'
SELECT id, title, is_completed, version, field_timestamps FROM tasks;

\echo
\echo '== a stale edit (older timestamp) loses and is reported as a conflict'
SELECT c->>'field' AS field, c->'clientValue' AS client_value, c->'serverValue' AS server_value
  FROM jsonb_array_elements(mana_apply_changeset('{"appId": "todo", "clientId": "alice-phone", "changes": [
  {"table": "tasks", "id": "t-1", "op": "update",
   "fields": {"title": {"value": "Buy milk!", "at": "2026-03-26T14:30:00.000Z"}}}]}', 'alice')->'conflicts') c;

\echo '== an app server writes with plain SQL: the trigger stamps the changed field'
UPDATE tasks SET title = 'Buy oat milk (2 l)' WHERE id = 't-1';
SELECT field_timestamps->>'title' AS title_stamp, version FROM tasks;

\echo '== alice-phone pulls from its cursor: it gets the current, merged row'
SELECT c->>'op' AS op, c->'data'->>'title' AS title, c->'data'->>'isCompleted' AS done
  FROM jsonb_array_elements(mana_pull('todo', 'tasks', (SELECT since FROM cursors WHERE device = 'alice-phone'), 'alice')->'serverChanges') c;

\echo '== a plain DELETE becomes a soft delete that devices pull'
DELETE FROM tasks WHERE id = 't-1';
SELECT c->>'op' AS op, c->>'id' AS id, c->>'deletedAt' IS NOT NULL AS has_deleted_at
  FROM jsonb_array_elements(mana_pull('todo', 'tasks', (SELECT since FROM cursors WHERE device = 'alice-phone'), 'alice')->'serverChanges') c;
SQL

# the push worker serves the same sync over HTTP (and WebSocket hints)
token() {   # a development HS256 token for user $1
    /usr/bin/python3 - "$1" "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
p = b(json.dumps({"sub": sys.argv[1], "exp": int(time.time()) + 3600}).encode())
print(h + "." + p + "." + b(hmac.new(sys.argv[2].encode(), (h + "." + p).encode(), hashlib.sha256).digest()))
PY
}
ready=0
for i in $(seq 1 80); do   # the worker finds the new database within a few seconds
    if curl -s "http://127.0.0.1:$WS_PORT/health" | grep -q '"databasesListened":[1-9]'; then ready=1; break; fi
    sleep 0.25
done
[ "$ready" = 1 ] || { echo "the push worker did not serve the todo_demo database within 20 s" >&2; exit 1; }
sleep 2
say "over HTTP: alice-phone pushes with POST /sync/todo, bob pulls with GET /sync/todo/pull"
echo "alice-phone's push (a new task t-2); the answer:"
curl -sS -f -X POST "http://127.0.0.1:$WS_PORT/sync/todo" -H "Authorization: Bearer $(token alice)" \
     -H "Content-Type: application/json" -H "X-Client-Id: alice-phone" \
     -d '{"changes":[{"table":"tasks","id":"t-2","op":"insert","data":{"id":"t-2","title":"Call mum","updatedAt":"2026-03-27T09:00:00.000Z"}}]}'
echo
echo "bob's pull of tasks (another user: no changes); the answer:"
curl -sS -f "http://127.0.0.1:$WS_PORT/sync/todo/pull?collection=tasks" -H "Authorization: Bearer $(token bob)"
echo
say "the worker's health"
curl -sS -f "http://127.0.0.1:$WS_PORT/health"
echo

say "the todo web app (examples/todo): a static server for the page"
npm_ci "$TODO_DIR" --omit=dev
# development only: tokens for two demo users, signed with mana_sync.jwt_secret
printf '{"alice": "%s", "bob": "%s"}\n' "$(token alice)" "$(token bob)" > "$TODO_DIR/dev-tokens.json"
nohup /usr/bin/python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory "$TODO_DIR" \
    >"$DIR/web.log" 2>&1 &
echo $! > "$DIR/web.pid"
ready=0
for i in $(seq 1 40); do
    if curl -s -o /dev/null "http://127.0.0.1:$WEB_PORT/"; then ready=1; break; fi
    sleep 0.25
done
[ "$ready" = 1 ] || { echo "the page server did not start; its log:" >&2; cat "$DIR/web.log" >&2; exit 1; }

say "listening TCP sockets of the demo (loopback only)"
listening_sockets "$WS_PORT" "$WEB_PORT"

cat <<EOT

mana_sync is running: PostgreSQL 15 with shared_preload_libraries = 'mana_sync'.
  todo app:   http://127.0.0.1:$WEB_PORT/?user=alice   (two tabs or browsers: the same user's devices;
              ?user=bob: another user; no user: a guest, local only; DEVELOPMENT tokens, valid 1 hour)
  SQL:        psql -h $DIR -p $PORT -U $PGOSUSER todo_demo
  HTTP/WS:    http://127.0.0.1:$WS_PORT  (/sync/todo, /ws/todo, /health, /metrics;
              development tokens: HS256 with mana_sync.jwt_secret = '$SECRET')
  stop it:    bash scripts/demo.sh stop
EOT
