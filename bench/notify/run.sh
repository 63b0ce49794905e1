#!/usr/bin/env bash
# Change intake benchmark (issue 7): what hinting costs the writers, in
# notify mode (LISTEN/NOTIFY) and in commit_hook mode (shared memory ring).
#
#  1. pgbench, single-row UPDATEs of random rows of a 100K-row table, 1, 4,
#     16 and 32 clients: an unregistered table, then a registered one in
#     notify mode and in commit_hook mode; tps as ratios to the unregistered
#     table, all in one run (fsync on, default synchronous_commit).  Also
#     the floor under any intake: the registered shape written with
#     updated_at set by the UPDATE itself and no trigger.
#  2. Commit-to-client latency at 1,000 WebSocket connections in both modes
#     (bench/ws/loadgen.js: writes of random users at 100/s).
#
# Usage: bash bench/notify/run.sh [--quick]   (writes bench/results/notify-latest.md)
source "$(dirname "$0")/../../scripts/lib.sh"

PORT=${MANA_BENCH_PORT:-55452}
DIR=${MANA_BENCH_DIR:-/tmp/mana-sync-notifybench}
WS_PORT=3097
SECRET=bench-secret
CLIENTS="1 4 16 32"; SECS=8; LAT_SECS=20; ROUNDS=3
if [ "${1:-}" = "--quick" ]; then CLIENTS="1 16"; SECS=5; LAT_SECS=5; ROUNDS=1; fi
OUT="$MANA_ROOT/bench/results"
mkdir -p "$OUT"
WSDIR="$MANA_ROOT/bench/ws"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
trap 'mana_stop_cluster "$DIR"' EXIT

mana_install_deps
mana_build
have_node=1
mana_install_node && npm_ci "$WSDIR" || have_node=0

# no checkpoint during the runs (after a warm-up every page has had its
# full-page image): what is measured is the steady state between checkpoints
mana_start_cluster "$DIR" "$PORT" "shared_preload_libraries = 'mana_sync'" "mana_sync.port = $WS_PORT" \
    "mana_sync.jwt_secret = '$SECRET'" "max_connections = 300" \
    "checkpoint_timeout = 1h" "max_wal_size = 20GB"
export PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER
psql -qX -d postgres -c "CREATE DATABASE nbench" >/dev/null
psql -qX -d nbench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION mana_sync;
CREATE TABLE plain_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
CREATE TABLE synced_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
SELECT mana_sync_enable('synced_items', 'nbench');
-- a registered table with only the indexes the delta requires ((owner,
-- updated_at) and the partial deleted_at one), without mana_sync's (owner,
-- sync_xid, id)
CREATE TABLE required_items (id text PRIMARY KEY, user_id text NOT NULL, n int NOT NULL DEFAULT 0);
SELECT mana_sync_enable('required_items', 'nbench');
DROP INDEX required_items_mana_owner_xid;
INSERT INTO required_items SELECT 'i' || g, 'u' || (g % 1000), 0 FROM generate_series(1, 100000) g;
INSERT INTO plain_items SELECT 'i' || g, 'u' || (g % 1000), 0 FROM generate_series(1, 100000) g;
INSERT INTO synced_items SELECT 'i' || g, 'u' || (g % 1000), 0 FROM generate_series(1, 100000) g;
VACUUM ANALYZE;
SQL
sleep 3   # the worker finds the database

for t in plain_items synced_items; do
    printf '\\set k random(1, 100000)\nUPDATE %s SET n = n + 1 WHERE id = '"'"'i'"'"' || :k;\n' "$t" > "$DIR/$t.sql"
done
# "stamped": the one change every write to a registered table makes to an
# indexed column (updated_at), made by the UPDATE itself, with the trigger
# not firing (session_replication_role = replica).  The update cannot be
# HOT: a floor under any change intake.
for t in synced_items required_items; do
    printf '\\set k random(1, 100000)\nUPDATE %s SET n = n + 1, updated_at = now() WHERE id = '"'"'i'"'"' || :k;\n' "$t" > "$DIR/stamped-$t.sql"
done

# tps SCRIPT MODE ROLE CLIENTS
tps() {
    local f=$1 mode=$2 role=$3 c=$4 j
    j=$(( c < 2 ? 1 : 2 ))
    PGOPTIONS="-c mana_sync.notify_mode=$mode -c session_replication_role=$role" pgbench -n -f "$DIR/$f.sql" -c "$c" -j "$j" -T "$SECS" -d nbench 2>&1 |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# name:table:mode:script:session_replication_role (plain first: the others
# are ratios to it).  "replica" keeps the trigger from firing, so the
# registered configurations share one table and its history (bloat, row
# widths) and differ only in what runs.
CONFIGS="plain:plain_items:notify:plain_items:origin shaped:synced_items:notify:synced_items:replica
 stamped:synced_items:notify:stamped-synced_items:replica stamped2:required_items:notify:stamped-required_items:replica
 notify:synced_items:notify:synced_items:origin hook:synced_items:commit_hook:synced_items:origin"
say "warm-up (every page written once since the checkpoint)"
psql -qX -d nbench -c "CHECKPOINT" >/dev/null
for f in plain_items stamped-required_items synced_items; do
    PGOPTIONS="-c mana_sync.notify_mode=commit_hook" pgbench -n -f "$DIR/$f.sql" -c 16 -j 2 -T 8 -d nbench >/dev/null 2>&1
done
# runs[name-c]: tps of each round; ratios[name-c]: each round's tps over
# the unregistered table's in the same round (the machine drifts between
# rounds by more than the differences measured: pairing cancels that)
declare -A runs ratios
say "pgbench: ${SECS}s per run, median of $ROUNDS rounds (configurations alternate)"
for round in $(seq 1 "$ROUNDS"); do
    for c in $CLIENTS; do
        base=
        for cfg in $CONFIGS; do
            IFS=: read -r name t mode f role <<<"$cfg"
            # registered tables update out of place (their indexed sync
            # columns change): vacuum first, so no run inherits the bloat
            # of the one before
            psql -qX -d nbench -c "VACUUM $t" >/dev/null
            v=$(tps "$f" "$mode" "$role" "$c")
            [ -n "$base" ] || base=$v
            echo "round $round, $c clients, $name: $v tps"
            runs[$name-$c]="${runs[$name-$c]:-} $v"
            ratios[$name-$c]="${ratios[$name-$c]:-} $(awk -v a="$v" -v b="$base" 'BEGIN { printf "%.4f", a / b }')"
        done
    done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A best ratio
for k in "${!runs[@]}"; do
    best[$k]=$(median "${runs[$k]}")
    ratio[$k]=$(median "${ratios[$k]}")
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
    echo "pgbench: single-row UPDATEs of random rows of a 100K-row table, ${SECS}s per run after a VACUUM, $ROUNDS rounds; median tps of the unregistered table, and for the others the median over rounds of their tps over the unregistered table's in the same round. \"Shape only\": the registered table with its trigger not firing (session_replication_role = replica: sync columns and indexes; the update of n alone stays HOT). \"Stamped\": the same, but the UPDATE also sets updated_at, the one indexed column every write to a registered table changes (no trigger, no intake: a floor); \"stamped, required indexes\": a table with only the indexes the delta requires."
    echo
    echo "| clients | unregistered tps | shape only | stamped | stamped, required indexes | notify | commit_hook | commit_hook / stamped |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CLIENTS; do
        awk -v c="$c" -v p="${best[plain-$c]}" -v sh="${ratio[shaped-$c]}" -v st="${ratio[stamped-$c]}" \
            -v st2="${ratio[stamped2-$c]}" -v n="${ratio[notify-$c]}" -v h="${ratio[hook-$c]}" \
            'BEGIN { printf "| %d | %.0f | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx | %.2f |\n", c, p, sh, st, st2, n, h, h / st }'
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
