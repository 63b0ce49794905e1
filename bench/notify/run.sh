#!/usr/bin/env bash
# Change intake benchmark (issue 7): what hinting costs the writers, in
# notify mode (LISTEN/NOTIFY) and in commit_hook mode (shared memory ring).
#
#  1. pgbench, single-row UPDATEs of random rows of a 100K-row table, 1, 4,
#     16 and 32 clients: an unregistered table, then a registered one in
#     notify mode and in commit_hook mode; tps as ratios to the unregistered
#     table, all in one run (fsync on, default synchronous_commit).
#  2. Commit-to-client latency at 1,000 WebSocket connections in both modes
#     (bench/ws/loadgen.js: writes of random users at 100/s).
#
# Usage: bash bench/notify/run.sh [--quick]   (writes bench/results/notify-latest.md)
source "$(dirname "$0")/../../scripts/lib.sh"

PORT=${MANA_BENCH_PORT:-55452}
DIR=${MANA_BENCH_DIR:-/tmp/mana-sync-notifybench}
WS_PORT=3097
SECRET=bench-secret
CLIENTS="1 4 16 32"; SECS=15; LAT_SECS=20; ROUNDS=2
if [ "${1:-}" = "--quick" ]; then CLIENTS="1 16"; SECS=5; LAT_SECS=5; ROUNDS=1; fi
OUT="$MANA_ROOT/bench/results"
mkdir -p "$OUT"
WSDIR="$MANA_ROOT/bench/ws"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
trap 'mana_stop_cluster "$DIR"' EXIT

mana_install_deps
mana_build
have_node=1
command -v node >/dev/null && command -v npm >/dev/null || have_node=0
[ $have_node = 1 ] && (cd "$WSDIR" && npm install --no-audit --no-fund --silent >/dev/null)

mana_start_cluster "$DIR" "$PORT" "shared_preload_libraries = 'mana_sync'" "mana_sync.port = $WS_PORT" \
    "mana_sync.jwt_secret = '$SECRET'" "max_connections = 300"
export PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER
psql -qX -d postgres -c "CREATE DATABASE nbench" >/dev/null
psql -qX -d nbench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION mana_sync;
CREATE TABLE plain_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
CREATE TABLE synced_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
SELECT mana_sync_enable('synced_items', 'nbench');
INSERT INTO plain_items SELECT 'i' || g, 'u' || (g % 1000), 0 FROM generate_series(1, 100000) g;
INSERT INTO synced_items SELECT 'i' || g, 'u' || (g % 1000), 0 FROM generate_series(1, 100000) g;
VACUUM ANALYZE;
SQL
sleep 3   # the worker finds the database

for t in plain_items synced_items; do
    printf '\\set k random(1, 100000)\nUPDATE %s SET n = n + 1 WHERE id = '"'"'i'"'"' || :k;\n' "$t" > "$DIR/$t.sql"
done

# tps NAME TABLE MODE CLIENTS
tps() {
    local t=$2 mode=$3 c=$4 j
    j=$(( c < 2 ? 1 : 2 ))
    PGOPTIONS="-c mana_sync.notify_mode=$mode" pgbench -n -q -f "$DIR/$t.sql" -c "$c" -j "$j" -T "$SECS" -d nbench 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

declare -A best
say "pgbench: ${SECS}s per run, best of $ROUNDS rounds (alternating)"
for round in $(seq 1 "$ROUNDS"); do
    for c in $CLIENTS; do
        for cfg in plain:plain_items:notify notify:synced_items:notify hook:synced_items:commit_hook; do
            IFS=: read -r name t mode <<<"$cfg"
            psql -qX -d nbench -c "CHECKPOINT" >/dev/null
            v=$(tps "$name" "$t" "$mode" "$c")
            echo "round $round, $c clients, $name: $v tps"
            k="$name-$c"
            if [ -z "${best[$k]:-}" ] || awk -v a="$v" -v b="${best[$k]}" 'BEGIN { exit !(a > b) }'; then best[$k]=$v; fi
        done
    done
done

lat=()
if [ $have_node = 1 ]; then
    worker_pid=$(psql -qXAt -d nbench -c "SELECT pid FROM mana_sync_worker_stats()")
    psql -qX -d nbench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE bench_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
SELECT mana_sync_enable('bench_items', 'bench');
INSERT INTO bench_items SELECT 'i' || g, 'u' || g, 0 FROM generate_series(0, 9999) g;
SQL
    sleep 2
    for mode in notify commit_hook notify commit_hook; do
        say "latency, $mode mode, 1,000 connections"
        # the load generator's writer connects after this
        psql -qX -d postgres -c "ALTER DATABASE nbench SET mana_sync.notify_mode = '$mode'" >/dev/null
        r=$(node "$WSDIR/loadgen.js" "ws://127.0.0.1:$WS_PORT/ws/bench" "$worker_pid" 1000 100 "$LAT_SECS" \
            "$DIR" "$PORT" nbench "$SECRET")
        echo "$r"; lat+=("$mode|$r")
    done
fi

{
    echo "# change intake benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
    echo
    echo "pgbench: single-row UPDATEs of random rows of a 100K-row table, ${SECS}s per run, best of $ROUNDS; tps and the ratio to the unregistered table."
    echo
    echo "| clients | unregistered | registered, notify | ratio | registered, commit_hook | ratio |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for c in $CLIENTS; do
        p=${best[plain-$c]} n=${best[notify-$c]} h=${best[hook-$c]}
        awk -v c="$c" -v p="$p" -v n="$n" -v h="$h" \
            'BEGIN { printf "| %d | %.0f | %.0f | %.2fx | %.0f | %.2fx |\n", c, p, n, n / p, h, h / p }'
    done
    if [ ${#lat[@]} -gt 0 ]; then
        echo
        echo "Commit-to-client latency, 1,000 authenticated WebSocket connections, writes of random users at 100/s for ${LAT_SECS}s (two runs per mode):"
        echo
        echo "| mode | p50 ms | p99 ms | max ms | writes | received | lost |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for line in "${lat[@]}"; do
            IFS='|' read -r mode json <<<"$line"
            echo "$json" | /usr/bin/python3 -c "
import json,sys; r=json.load(sys.stdin)
f=lambda v: '%.2f' % v if v is not None else '-'
print('| $mode | %s | %s | %s | %d | %d | %d |' % (f(r['p50_ms']), f(r['p99_ms']), f(r['max_ms']), r['writes'], r['received'], r['lost']))"
        done
    fi
} | tee "$OUT/notify-latest.md"
