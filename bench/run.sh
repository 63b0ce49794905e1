#!/usr/bin/env bash
# mana_sync benchmarks (issue 2): apply, trigger overhead, pull.
# Starts its own cluster (fsync on, default synchronous_commit), runs every
# measurement side by side in one run, prints ratios, and writes them to
# bench/results/latest.md.  Usage: bash bench/run.sh [--quick]
source "$(dirname "$0")/../scripts/lib.sh"

PORT=${MANA_BENCH_PORT:-55450}
DIR=${MANA_BENCH_DIR:-/tmp/mana-sync-bench}
ROUNDS=30; PULL_ROUNDS=50; PGB_SECONDS=8
if [ "${1:-}" = "--quick" ]; then ROUNDS=5; PULL_ROUNDS=10; PGB_SECONDS=2; fi
OUT="$MANA_ROOT/bench/results"
mkdir -p "$OUT"
TMP=$(mktemp -d); chmod 777 "$TMP"
trap 'mana_stop_cluster "$DIR"; rm -rf "$TMP"' EXIT

mana_install_deps
mana_build
# preloaded, as in production: the trigger's hints take the default
# commit_hook path (without shared_preload_libraries they would be NOTIFYs)
mana_start_cluster "$DIR" "$PORT" "shared_buffers = 1GB" "max_connections = 100" \
    "checkpoint_timeout = 30min" "max_wal_size = 8GB" \
    "shared_preload_libraries = 'mana_sync'" "mana_sync.port = ${MANA_BENCH_WS_PORT:-3094}"
export PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER PGDATABASE=postgres
psql -qX -c "CREATE EXTENSION mana_sync" >/dev/null
psql -qX -f "$MANA_ROOT/bench/plpgsql_peer.sql" >/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

say "apply: 1000 updates x 5 fields, $ROUNDS rounds"
psql -qX -v rounds=$ROUNDS -v outfile="$TMP/apply.txt" -f "$MANA_ROOT/bench/apply.sql"
apply_ms=$(awk -F'|' '$1=="mana_apply_changeset"{print $2}' "$TMP/apply.txt")
floor_ms=$(awk -F'|' '$1=="plain UPDATE, unregistered table"{print $2}' "$TMP/apply.txt")
reg_ms=$(awk -F'|' '$1=="plain UPDATE, registered table"{print $2}' "$TMP/apply.txt")
peer_ms=$(awk -F'|' '$1=="PL/pgSQL peer"{print $2}' "$TMP/apply.txt")
rows_ms=$(awk -F'|' '$1=="1000 single-row UPDATEs, unregistered table"{print $2}' "$TMP/apply.txt")

say "trigger overhead: pgbench, ${PGB_SECONDS}s per run"
psql -qX -f "$MANA_ROOT/bench/trigger_setup.sql" >/dev/null
for t in t_unreg t_reg; do
    printf '\\set id random(1, 100000)\nUPDATE %s SET title = :id::text, n = n + 1 WHERE id = :id;\n' $t > "$TMP/upd_$t.sql"
    printf '\\set u random(1, 1000)\nINSERT INTO %s (user_id, title, n) VALUES (:u::text, :u::text, 1);\n' $t > "$TMP/ins_$t.sql"
done
declare -A TPS
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
for clients in 1 16; do
    for op in upd ins; do
        declare -a U=() R=()
        # alternate the two tables three times and keep each one's median:
        # this machine's throughput drifts between runs
        for rep in 1 2 3; do
            for t in t_unreg t_reg; do
                tps=$(pgbench -n -M prepared -c $clients -j $clients -T $PGB_SECONDS -f "$TMP/${op}_$t.sql" 2>/dev/null |
                      awk '/^tps = / { printf "%.0f", $3 }' | tail -1)
                if [ $t = t_unreg ]; then U+=("$tps"); else R+=("$tps"); fi
            done
        done
        TPS[$op.t_unreg.$clients]=$(median3 "${U[@]}")
        TPS[$op.t_reg.$clients]=$(median3 "${R[@]}")
        echo "  $op clients=$clients unregistered ${U[*]} registered ${R[*]}"
        unset U R
    done
done

say "pull: 1000-change delta, 10K vs 1M rows, $PULL_ROUNDS rounds"
psql -qX -v rounds=$PULL_ROUNDS -v outfile="$TMP/pull.txt" -f "$MANA_ROOT/bench/pull.sql"
p10k=$(awk -F'|' '$1=="10K rows"{print $2}' "$TMP/pull.txt")
p1m=$(awk -F'|' '$1=="1M rows"{print $2}' "$TMP/pull.txt")

{
    echo "# mana_sync benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, PostgreSQL $(pg_config --version | awk '{print $2}'))"
    echo
    echo "## apply: one changeset of 1000 updates x 5 fields (median of $ROUNDS rounds)"
    echo
    echo "| method | ms | mana_apply_changeset is |"
    echo "|---|---:|---|"
    echo "| mana_apply_changeset (answers only what the client lacks) | $apply_ms | |"
    echo "| one plain UPDATE, unregistered twin (the floor) | $floor_ms | $(ratio "$apply_ms" "$floor_ms")x the floor |"
    echo "| one plain UPDATE, registered table (trigger stamps) | $reg_ms | $(ratio "$apply_ms" "$reg_ms")x |"
    echo "| 1000 single-row UPDATE statements, unregistered | $rows_ms | $(ratio "$apply_ms" "$rows_ms")x |"
    echo "| PL/pgSQL peer (same LWW rule) | $peer_ms | $(ratio "$peer_ms" "$apply_ms")x faster |"
    echo
    echo "## trigger overhead: pgbench tps, registered vs identical unregistered table (median of 3 alternating ${PGB_SECONDS}s runs)"
    echo
    echo "| workload | clients | unregistered tps | registered tps | registered/unregistered | slowdown |"
    echo "|---|---:|---:|---:|---:|---:|"
    for clients in 1 16; do
        for op in upd ins; do
            u=${TPS[$op.t_unreg.$clients]}; r=${TPS[$op.t_reg.$clients]}
            name=$([ $op = upd ] && echo "single-row UPDATE" || echo "single-row INSERT")
            echo "| $name | $clients | $u | $r | $(ratio "$r" "$u") | $(ratio "$u" "$r")x |"
        done
    done
    echo
    echo "## pull: 1000-change delta of one user (median of $PULL_ROUNDS rounds)"
    echo
    echo "| table | ms |"
    echo "|---|---:|"
    echo "| 10K rows | $p10k |"
    echo "| 1M rows | $p1m |"
    echo "| ratio 1M / 10K | $(ratio "$p1m" "$p10k") |"
} | tee "$OUT/latest.md"
