#!/usr/bin/env bash
# Run every test of mana_sync: unit tests of the pure C under ASan+UBSan,
# pg_regress and isolation suites against a real cluster, once without and
# once with shared_preload_libraries.  Installs what it needs (Debian),
# starts and stops its own servers.  Ends with "N passed, M failed".
source "$(dirname "$0")/lib.sh"

PORT=${MANA_TEST_PORT:-55433}
WORK=${MANA_TEST_DIR:-/tmp/mana-sync-test}
passed=0
failed=0
failures=()

result() {  # result NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"
    else failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; fi
}

cleanup() {
    mana_stop_cluster "$WORK/plain"
    mana_stop_cluster "$WORK/preload"
}
trap cleanup EXIT

mana_install_deps
mana_build

say "unit tests (cmocka, ASan+UBSan)"
set +e
make -C "$MANA_ROOT" -s unit
result "unit" $?
set -e

run_sql_suites() {  # run_sql_suites LABEL DIR
    local label=$1 dir=$2 rc
    set +e
    PGHOST=$dir PGPORT=$PORT PGUSER=$PGOSUSER make -C "$MANA_ROOT" -s installcheck
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        find "$MANA_ROOT" -name 'regression.diffs' -newer "$MANA_ROOT/Makefile" -exec cat {} + | head -200
    fi
    result "$label" $rc
}

say "pg_regress + isolation, extension loaded on demand"
mana_start_cluster "$WORK/plain" "$PORT"
run_sql_suites "sql-suites (no preload)" "$WORK/plain"
mana_stop_cluster "$WORK/plain"

say "pg_regress + isolation, shared_preload_libraries = mana_sync"
mana_start_cluster "$WORK/preload" "$PORT" "shared_preload_libraries = 'mana_sync'"
run_sql_suites "sql-suites (preloaded)" "$WORK/preload"
mana_stop_cluster "$WORK/preload"

echo
if [ $failed -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
