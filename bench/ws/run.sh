#!/usr/bin/env bash
# Push worker benchmark (issue 3): hold 100 / 1,000 / 10,000 authenticated
# WebSocket connections, write rows of random users at a steady rate, and
# measure commit-to-client latency and memory per connection, for the
# mana_sync worker and for the Node.js peer (bench/ws/peer.js) on the same
# workload (the worker with both intakes; the peer hears NOTIFY only, so it
# runs with the writer in notify mode).  Usage: bash bench/ws/run.sh [--quick]
source "$(dirname "$0")/../../scripts/lib.sh"

PORT=${MANA_BENCH_PORT:-55451}
DIR=${MANA_BENCH_DIR:-/tmp/mana-sync-wsbench}
WS_PORT=3095
PEER_PORT=3096
SECRET=bench-secret
LEVELS="100 1000 10000"; RATE=100; SECS=20
if [ "${1:-}" = "--quick" ]; then LEVELS="100 1000"; SECS=5; fi
# bench/ab.sh: one level, one intake, no peer
LEVELS=${MANA_BENCH_WS_LEVELS:-$LEVELS}; SECS=${MANA_BENCH_WS_SECS:-$SECS}
INTAKES=${MANA_BENCH_WS_INTAKES:-commit_hook notify}; WITH_PEER=${MANA_BENCH_WS_PEER:-1}
OUT="$MANA_ROOT/bench/results"
mkdir -p "$OUT"
HERE="$MANA_ROOT/bench/ws"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
trap '[ -n "$PEER" ] && kill $PEER 2>/dev/null; mana_stop_cluster "$DIR"' EXIT
PEER=

mana_install_deps
mana_build
# the load generator and the peer use ws and pg from npm
mana_install_node
npm_ci "$HERE"
# PostgreSQL (and its worker) on core 0, the load generator on core 1
taskset -c 0 true 2>/dev/null && PIN0="taskset -c 0" PIN1="taskset -c 1" || PIN0="" PIN1=""
$PIN0 bash -c "source '$MANA_ROOT/scripts/lib.sh'; mana_start_cluster '$DIR' '$PORT' \
    \"shared_preload_libraries = 'mana_sync'\" \"mana_sync.port = $WS_PORT\" \"mana_sync.jwt_secret = '$SECRET'\""
export PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER
psql -qX -d postgres -c "CREATE DATABASE wsbench" >/dev/null
psql -qX -d wsbench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION mana_sync;
CREATE TABLE bench_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
SELECT mana_sync_enable('bench_items', 'bench');
INSERT INTO bench_items SELECT 'i' || g, 'u' || g, 0 FROM generate_series(0, 9999) g;
SQL
sleep 3   # the worker finds the database

worker_pid=$(psql -qXAt -d wsbench -c "SELECT pid FROM mana_sync_worker_stats()")
results=()
for n in $LEVELS; do
    # the worker with each intake; the peer hears only NOTIFY, so its row
    # and the worker's row to compare it with use notify mode
    for intake in $INTAKES; do
        say "mana_sync worker ($intake), $n connections"
        r=$($PIN1 node "$HERE/loadgen.js" "ws://127.0.0.1:$WS_PORT/ws/bench" "$worker_pid" "$n" "$RATE" "$SECS" \
            "$DIR" "$PORT" wsbench "$SECRET" "$intake")
        echo "$r"; results+=("worker|$intake|$n|$r")
    done

    [ "$WITH_PEER" = 1 ] || continue
    say "Node.js peer (notify), $n connections"
    $PIN0 node "$HERE/peer.js" "$PEER_PORT" "$DIR" "$PORT" wsbench "$SECRET" >/dev/null &
    PEER=$!
    sleep 1.5
    r=$($PIN1 node "$HERE/loadgen.js" "ws://127.0.0.1:$PEER_PORT/ws/bench" "$PEER" "$n" "$RATE" "$SECS" \
        "$DIR" "$PORT" wsbench "$SECRET" notify)
    echo "$r"; results+=("peer|notify|$n|$r")
    kill $PEER; wait $PEER 2>/dev/null || true; PEER=
done

{
    echo "# push worker benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
    echo
    echo "Writes of random users at $RATE/s for ${SECS}s per run; latency from the UPDATE's commit (as the writer sees it) to the client's receipt of sync-available."
    echo
    echo "Intake: how the writes' hints reached the server: commit_hook (mana_sync's default, shared memory at commit) or notify (NOTIFY mana_sync, the only one the Node.js peer hears)."
    echo
    echo "| server | intake | connections | held | memory per idle connection | p50 ms | p99 ms | max ms | writes | received | lost |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for line in "${results[@]}"; do
        IFS='|' read -r who intake n json <<<"$line"
        name=$([ "$who" = worker ] && echo "mana_sync worker" || echo "Node.js peer (ws + pg)")
        echo "$json" | /usr/bin/python3 -c "
import json,sys; r=json.load(sys.stdin)
f=lambda v: '%.2f' % v if v is not None else '-'
print('| $name | $intake | $n | %d | %.1f KB | %s | %s | %s | %d | %d | %d |' % (r['connections'], r['bytes_per_conn']/1024.0,
      f(r['p50_ms']), f(r['p99_ms']), f(r['max_ms']), r['writes'], r['received'], r['lost']))"
    done
} | tee "$OUT/ws-latest.md"
