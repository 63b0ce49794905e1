#!/usr/bin/env bash
# HTTP sync endpoint benchmark (issue 4): push and pull latency at 200
# requests per second (half each) for 3 minutes, the highest rate held with
# p99 under 50 ms, and the HTTP layer's overhead against the same changesets
# through SELECT mana_apply_changeset(...) on a direct libpq connection.
# Usage: bash bench/http/run.sh [--quick]
source "$(dirname "$0")/../../scripts/lib.sh"

PORT=${MANA_BENCH_PORT:-55452}
DIR=${MANA_BENCH_DIR:-/tmp/mana-sync-httpbench}
WS_PORT=3097
SECRET=bench-secret
USERS=1000; SECS=180; STEP=10; N=2000
if [ "${1:-}" = "--quick" ]; then SECS=15; STEP=4; N=300; fi
OUT="$MANA_ROOT/bench/results"
mkdir -p "$OUT"
HERE="$MANA_ROOT/bench/http"
ulimit -n 20000 2>/dev/null || true
trap 'mana_stop_cluster "$DIR"' EXIT

mana_install_deps
mana_build
mana_install_node
npm_ci "$MANA_ROOT/bench/ws"
export NODE_PATH="$MANA_ROOT/bench/ws/node_modules"
taskset -c 0 true 2>/dev/null && PIN0="taskset -c 0" PIN1="taskset -c 1" || PIN0="" PIN1=""
$PIN0 bash -c "source '$MANA_ROOT/scripts/lib.sh'; mana_start_cluster '$DIR' '$PORT' \
    \"shared_preload_libraries = 'mana_sync'\" \"mana_sync.port = $WS_PORT\" \"mana_sync.jwt_secret = '$SECRET'\""
export PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER
psql -qX -d postgres -c "CREATE DATABASE httpbench" >/dev/null
psql -qX -d httpbench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION mana_sync;
CREATE TABLE items (id text PRIMARY KEY, user_id text NOT NULL, title text, n int);
SELECT mana_sync_enable('items', 'bench');
INSERT INTO items SELECT 'i-u' || g, 'u' || g, 't', 0 FROM generate_series(0, 999) g;
SQL
BASE=http://127.0.0.1:$WS_PORT
for i in $(seq 1 30); do
    curl -s -o /dev/null -w '%{http_code}' -X GET "$BASE/sync/bench/pull?collection=items" | grep -q 401 && break
    sleep 0.5
done
sleep 3   # the worker reads the registry

say "HTTP overhead: $N changesets through POST /sync vs SELECT mana_apply_changeset"
overhead=$($PIN1 node "$HERE/load.js" overhead "$BASE" "$DIR" "$PORT" httpbench "$SECRET" "$N")
echo "$overhead"
say "200 requests/s (half push, half pull) for ${SECS}s"
rate=$($PIN1 node "$HERE/load.js" rate "$BASE" "$SECRET" 200 "$SECS" "$USERS")
echo "$rate"
if [ "${MANA_BENCH_HTTP_MAXRATE:-1}" = 1 ]; then
    say "highest rate with p99 under 50 ms (${STEP}s steps)"
    maxrate=$($PIN1 node "$HERE/load.js" maxrate "$BASE" "$SECRET" "$USERS" "$STEP")
    echo "$maxrate"
else
    maxrate='{"best_rps": "not measured"}'   # bench/ab.sh: latency only
fi

/usr/bin/python3 - "$overhead" "$rate" "$maxrate" <<'PY' | tee "$OUT/http-latest.md"
import json, sys, datetime
o, r, m = (json.loads(a) for a in sys.argv[1:4])
print("# HTTP sync benchmark (%s)" % datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ"))
print()
print("| measure | value |")
print("|---|---:|")
print("| push p50 / p95 / p99 at 200 req/s (ms) | %s / %s / %s |" % (r["push_p50_ms"], r["push_p95_ms"], r["push_p99_ms"]))
print("| pull p50 / p95 / p99 at 200 req/s (ms) | %s / %s / %s |" % (r["pull_p50_ms"], r["pull_p95_ms"], r["pull_p99_ms"]))
print("| achieved rate, errors | %s req/s, %d |" % (r["achieved_rps"], r["errors"]))
print("| highest rate with p99 < 50 ms | %s req/s |" % m["best_rps"])
print("| POST /sync p50 vs direct SQL p50 (ms) | %s vs %s |" % (o["http_p50_ms"], o["sql_p50_ms"]))
print("| HTTP overhead ratio | %sx |" % o["ratio"])
PY
