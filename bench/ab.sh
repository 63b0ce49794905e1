#!/usr/bin/env bash
# Two commits side by side, in one run: the figures a change must not make
# worse.  Usage: bash bench/ab.sh [A_REF] [B_REF] [ROUNDS]
# (default: HEAD~1 against HEAD, 3 rounds).
#
# Each commit is checked out (git worktree) and built once under
# /tmp/mana-ab; then, ROUNDS times, each build in turn (A B, then B A, ...)
# is installed and measured with this checkout's benchmark scripts, which
# then skip their own build (MANA_SKIP_BUILD=1):
#
#   apply   bench/run.sh --quick: mana_apply_changeset against one plain
#           UPDATE of the same rows (the apply ratio)
#   http    bench/http/run.sh --quick: push and pull p95 at 200 req/s
#   fan-out bench/ws/run.sh at 10,000 connections, commit_hook intake:
#           commit-to-client p99
#
# Prints the median of each figure per commit and B's ratio to A, and
# writes them to bench/results/ab-latest.md.  About 5 minutes a round.
source "$(dirname "$0")/../scripts/lib.sh"

A_REF=${1:-HEAD~1}
B_REF=${2:-HEAD}
ROUNDS=${3:-3}
WT=${MANA_AB_DIR:-/tmp/mana-ab}
OUT="$MANA_ROOT/bench/results"
mkdir -p "$OUT"
LOG=$WT/log
cleanup() {
    git -C "$MANA_ROOT" worktree remove --force "$WT/a" >/dev/null 2>&1 || true
    git -C "$MANA_ROOT" worktree remove --force "$WT/b" >/dev/null 2>&1 || true
}
trap cleanup EXIT

mana_install_deps
mana_install_node
npm_ci "$MANA_ROOT/bench/ws"
cleanup
rm -rf "$WT"
mkdir -p "$WT" "$LOG"
for side in a b; do
    ref=$A_REF; [ $side = b ] && ref=$B_REF
    git -C "$MANA_ROOT" worktree add -q --detach "$WT/$side" "$ref"
    say "building $side: $(git -C "$WT/$side" log --oneline -1 | cut -c1-70)"
    make -C "$WT/$side" -s MANA_WERROR=1 >/dev/null
done

# figures of one run: "apply_ratio push_p95 pull_p95 fanout_p99" (0: not
# measured; MANA_AB_BENCHES picks, default "apply http ws")
BENCHES=${MANA_AB_BENCHES:-apply http ws}
measure() {
    set -e                      # $(...) does not inherit errexit
    local side=$1 round=$2 ratio=0 push=0 pull=0 fan=0 apply floor
    # no stale figures: a run that fails leaves no file to read
    rm -f "$OUT/latest.md" "$OUT/http-latest.md" "$OUT/ws-latest.md"
    make -C "$WT/$side" -s install >/dev/null
    if [[ " $BENCHES " == *" apply "* ]]; then
        MANA_SKIP_BUILD=1 bash "$MANA_ROOT/bench/run.sh" --quick >"$LOG/run-$side-$round.log" 2>&1
        apply=$(awk -F'|' '/^\| mana_apply_changeset/ { gsub(/ /, "", $3); print $3 }' "$OUT/latest.md")
        floor=$(awk -F'|' '/^\| one plain UPDATE, unregistered/ { gsub(/ /, "", $3); print $3 }' "$OUT/latest.md")
        ratio=$(awk -v a="$apply" -v f="$floor" 'BEGIN { printf "%.3f", a / f }')
    fi
    if [[ " $BENCHES " == *" http "* ]]; then
        MANA_SKIP_BUILD=1 MANA_BENCH_HTTP_MAXRATE=0 bash "$MANA_ROOT/bench/http/run.sh" --quick \
            >"$LOG/http-$side-$round.log" 2>&1
        push=$(awk -F'|' '/push p50 \/ p95/ { split($3, v, "/"); gsub(/ /, "", v[2]); print v[2] }' "$OUT/http-latest.md")
        pull=$(awk -F'|' '/pull p50 \/ p95/ { split($3, v, "/"); gsub(/ /, "", v[2]); print v[2] }' "$OUT/http-latest.md")
    fi
    if [[ " $BENCHES " == *" ws "* ]]; then
        MANA_SKIP_BUILD=1 MANA_BENCH_WS_LEVELS=10000 MANA_BENCH_WS_SECS=10 MANA_BENCH_WS_INTAKES=commit_hook \
            MANA_BENCH_WS_PEER=0 bash "$MANA_ROOT/bench/ws/run.sh" >"$LOG/ws-$side-$round.log" 2>&1
        fan=$(awk -F'|' '/^\| mana_sync worker \| commit_hook \| 10000/ { gsub(/ /, "", $8); print $8 }' "$OUT/ws-latest.md")
    fi
    for v in "$ratio" "$push" "$pull" "$fan"; do
        [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "round $round, $side: a figure is missing (logs in $LOG)" >&2; return 1; }
    done
    echo "$ratio $push $pull $fan"
}

declare -A RES
for round in $(seq 1 "$ROUNDS"); do
    order="a b"; [ $((round % 2)) = 0 ] && order="b a"
    for side in $order; do
        say "round $round, $side"
        r=$(measure "$side" "$round") || exit 1
        echo "  apply ratio, push p95 ms, pull p95 ms, fan-out p99 ms: $r"
        RES[$side]="${RES[$side]:-}$r;"
    done
done

/usr/bin/python3 - "$A_REF" "$B_REF" "$(git -C "$WT/a" log --oneline -1)" "$(git -C "$WT/b" log --oneline -1)" \
    "${RES[a]}" "${RES[b]}" <<'PY' | tee "$OUT/ab-latest.md"
import datetime, statistics, sys
aref, bref, alog, blog, ra, rb = sys.argv[1:7]
def cols(s):
    rows = [r.split() for r in s.split(";") if r.strip()]
    return [[float(x) for x in c] for c in zip(*rows)]
a, b = cols(ra), cols(rb)
names = ["apply ratio (mana_apply_changeset / plain UPDATE)", "push p95 at 200 req/s, ms",
         "pull p95 at 200 req/s, ms", "fan-out p99 at 10,000 connections, ms"]
print("# A/B (%s), %d rounds, medians" % (datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%MZ"), len(a[0])))
print()
print("A = %s (%s)  " % (aref, alog[:60]))
print("B = %s (%s)" % (bref, blog[:60]))
print()
print("| figure | A | B | B / A | A runs | B runs |")
print("|---|---:|---:|---:|---|---|")
for i, n in enumerate(names):
    ma, mb = statistics.median(a[i]), statistics.median(b[i])
    if ma == 0 and mb == 0:
        continue                # not measured in this run
    print("| %s | %.2f | %.2f | %.2f | %s | %s |" % (n, ma, mb, mb / ma if ma else float("nan"),
          " ".join("%.2f" % x for x in a[i]), " ".join("%.2f" % x for x in b[i])))
PY
