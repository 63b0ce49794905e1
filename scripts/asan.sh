#!/usr/bin/env bash
# Run the integration suite (test/integration/http_test.py, then
# worker_test.py) once against mana_sync built with -fsanitize=address,
# and fail if AddressSanitizer reported anything.  Ends with
# "N passed, M failed" (the tests of both scripts, plus one check: "no
# AddressSanitizer report"), as scripts/test.sh expects.
#
#   bash scripts/asan.sh              the run (scripts/test.sh runs it too)
#   bash scripts/asan.sh selfcheck    proves the setup catches bugs: builds a
#                                     copy with two injected overflows, one in
#                                     a SQL function (backend, heap) and one in
#                                     the worker's /health (stack), triggers
#                                     both and expects both reports
#
# Environment: MANA_ASAN_DIR (default /tmp/mana-asan), MANA_ASAN_PORT
# (PostgreSQL, 55481), MANA_ASAN_WS_PORT (the worker, 3081),
# MANA_ASAN_TIMEOUT (seconds per integration script, 300), MANA_ASAN_OPTIONS
# (more ASAN_OPTIONS for the server, e.g. quarantine_size_mb=0),
# MANA_ASAN_SCRIPTS (the scripts run, in order: names in test/integration or
# paths from the repository's root; default "http_test.py hostile_test.py
# fault_test.py worker_test.py",
# and worker_test.py must stay last).
#
# How, and why this way:
# * Nothing is built or installed in the repository or the system
#   PostgreSQL: the sources are copied to $DIR/src and built there with gcc
#   and COPT='-fsanitize=address -fno-omit-frame-pointer' (PGXS adds COPT to
#   both CFLAGS and LDFLAGS, so the module also links libasan; MANA_WERROR
#   stays on; with_llvm=no, no JIT bitcode).
# * The server needs $libdir to hold that build.  PostgreSQL derives $libdir
#   and its share directory from the path of its own executable, relative
#   to the configured ones (/usr/lib/postgresql/15/bin ->
#   /usr/lib/postgresql/15/lib, /usr/share/postgresql/15), after resolving
#   symlinks.  So a real copy of those directories under $DIR/root (about
#   50 MB) is a private installation: `make install DESTDIR=$DIR/root` puts
#   the ASan module into it, and the server started from
#   $DIR/root/usr/lib/postgresql/15/bin loads it (checked below in
#   /proc/PID/maps).
# * The ASan runtime has to be the first library of the process, so it is
#   preloaded (LD_PRELOAD of gcc's libasan).  Only the server gets it: in
#   the private bin directory `postgres` is a small wrapper that sets
#   LD_PRELOAD and ASAN_OPTIONS and execs the real binary (renamed
#   postgres.real) under its own name (exec -a), so PostgreSQL still finds
#   its paths through it and postmaster.opts names the wrapper.  psql,
#   pg_ctl, initdb and Python run without the runtime (no noise from them),
#   every server process started by any pg_ctl or initdb of that bin
#   directory has it: the integration scripts call `pg_ctl` from PATH
#   (runuser keeps PATH) to restart the cluster, and get it too.
# * ASAN_OPTIONS: detect_leaks=0 (a backend exits without freeing, by
#   design: leak reports would be noise), abort_on_error=1 (a report ends
#   the process with SIGABRT, so the postmaster logs it and restarts the
#   cluster like after any crash: the tests fail too, not only the final
#   check), log_path (one file per process id: the reports outlive the
#   processes; "no report" means no file).  Quarantine and everything else
#   are ASan's defaults.
# * What ASan sees: everything malloc'd (libwebsockets' and the worker's
#   connection state, libpq), stack and global buffers of mana_sync, and
#   the libc calls it intercepts.  It does not see overruns inside palloc'd
#   chunks: a MemoryContext hands out pieces of big malloc'd blocks, which
#   PostgreSQL 15 does not poison for ASan.
# * The cluster is configured like scripts/test.sh's preloaded cluster
#   (same auth_timeout, a JWT secret and a key file) on its own ports.
source "$(dirname "$0")/lib.sh"

MODE=${1:-run}
case "$MODE" in run|selfcheck) ;; *) echo "usage: $0 [run|selfcheck]" >&2; exit 2 ;; esac

DIR=${MANA_ASAN_DIR:-/tmp/mana-asan}
PORT=${MANA_ASAN_PORT:-55481}
WS_PORT=${MANA_ASAN_WS_PORT:-3081}
PY_TIMEOUT=${MANA_ASAN_TIMEOUT:-300}
# worker_test.py last: its final tests stop the cluster and kill the postmaster
SCRIPTS=${MANA_ASAN_SCRIPTS:-http_test.py hostile_test.py fault_test.py worker_test.py}
SYS_CONFIG=$PGBIN/pg_config
case "$DIR" in /|/tmp|/tmp/|"") echo "MANA_ASAN_DIR=$DIR: give a directory of its own" >&2; exit 2 ;; esac
ROOT=$DIR/root
RBIN=$ROOT$("$SYS_CONFIG" --bindir)
RLIB=$ROOT$("$SYS_CONFIG" --pkglibdir)
RSHARE=$ROOT$("$SYS_CONFIG" --sharedir)
CLUSTER=$DIR/cluster
REPORTS=$DIR/reports
T0=$(date +%s)

cleanup() {
    mana_stop_cluster "$CLUSTER"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

mana_install_deps
LIBASAN=$(readlink -f "$(gcc -print-file-name=libasan.so)")
[ -f "$LIBASAN" ] || { echo "gcc's libasan not found ($LIBASAN)"; exit 1; }

# a cluster left running by an interrupted run (its postmaster only, checked
# by its command line: the pid file may be stale and the pid reused)
mana_stop_cluster "$CLUSTER"
if [ -f "$CLUSTER/data/postmaster.pid" ]; then
    pid=$(head -1 "$CLUSTER/data/postmaster.pid")
    cmd=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" || true)
    if [[ $cmd == *"-D $CLUSTER/data"* ]]; then
        kill -9 "$pid" || true
        sleep 1
    fi
fi
rm -rf "$DIR"
mkdir -p "$DIR/src" "$REPORTS" "$(dirname "$(dirname "$RBIN")")" "$(dirname "$RSHARE")"
chmod 777 "$DIR" "$REPORTS"

say "ASan: copying the sources and PostgreSQL's bin, lib and share directories to $DIR"
# the working tree without git data, build products, benchmarks and tests
# (only the fuzz makefile, which the Makefile includes)
tar -C "$MANA_ROOT" --exclude=./.git --exclude=./bench --exclude=./results \
    --exclude=./test --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$DIR/src" -xf -
mkdir -p "$DIR/src/test/fuzz"
cp "$MANA_ROOT"/test/fuzz/*.mk "$DIR/src/test/fuzz/"
cp -a "$(dirname "$PGBIN")" "$(dirname "$(dirname "$RBIN")")/"
cp -a "$("$SYS_CONFIG" --sharedir)" "$(dirname "$RSHARE")/"
rm -f "$RLIB/mana_sync.so" "$RSHARE"/extension/mana_sync*

if [ "$MODE" = selfcheck ]; then
    say "ASan self-check: injecting a heap overflow into mana_sync_worker_stats() and a stack overflow into the worker's /health"
    perl -0pi -e 's/(mana_sync_worker_stats\(PG_FUNCTION_ARGS\)\n\{\n[^}]*?memset\(nulls, 0, sizeof\(nulls\)\);\n)/$1\t{ volatile size_t asan_i = 16; volatile char *asan_p = malloc(16); asan_p[asan_i] = 1; free((void *) asan_p); }\n/ or die "anchor not found in shmem.c\n"' "$DIR/src/src/backend/shmem.c"
    perl -0pi -e 's/(serve_health\(struct lws \*wsi, http_req \*r\)\n\{\n\tchar\t\tbody\[512\];\n)/$1\t{ volatile size_t asan_i = sizeof(body); ((volatile char *) body)[asan_i] = 0; }\n/ or die "anchor not found in http.c\n"' "$DIR/src/src/worker/http.c"
    grep -n 'asan_i' "$DIR/src/src/backend/shmem.c" "$DIR/src/src/worker/http.c"
fi

say "ASan: building mana_sync with -fsanitize=address (gcc)"
ASAN_MAKE=(make -C "$DIR/src" -s PG_CONFIG="$SYS_CONFIG" with_llvm=no MANA_WERROR=1
           COPT="-fsanitize=address -fno-omit-frame-pointer")
"${ASAN_MAKE[@]}" >/dev/null
"${ASAN_MAKE[@]}" install DESTDIR="$ROOT" >/dev/null
grep -q 'NEEDED.*libasan' <<<"$(readelf -d "$RLIB/mana_sync.so")" || { echo "$RLIB/mana_sync.so does not link libasan"; exit 1; }
grep -q '__asan_report_' <<<"$(nm -D --undefined-only "$RLIB/mana_sync.so")" || { echo "$RLIB/mana_sync.so is not instrumented"; exit 1; }
[ -f "$RSHARE/extension/mana_sync.control" ] || { echo "the control file did not go to $RSHARE/extension"; exit 1; }
[ "$("$RBIN/pg_config" --pkglibdir)" = "$RLIB" ] || { echo "the private pg_config does not point to $RLIB"; exit 1; }

# A workaround the preloaded runtime needs with this PostgreSQL build.
# Preloaded into an executable that was not built with ASan, the runtime is
# initialized lazily, by the first malloc of any library constructor, and
# the constructors of the libraries PostgreSQL links run before the
# runtime's own.  libp11-kit's (via libldap and gnutls) calls newlocale(),
# which holds glibc's locale lock while it mallocs; the runtime's
# initialization then looks up the optional symbol swift_demangle, fails,
# and calls dlerror(), which translates the message with dcgettext(), which
# takes the same lock again for reading.  That corrupts the lock, and the
# process hangs in the next setlocale()/bindtextdomain() (every PostgreSQL
# program, already at `postgres -V`).  With a swift_demangle defined, the
# lookup succeeds and nothing is translated.  The stub returns NULL, which
# the runtime takes as "not a Swift name" (it then demangles as C++).
cat > "$DIR/swift_demangle_stub.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
char *swift_demangle(const char *name, size_t len, char *out, size_t *outlen, uint32_t flags);
char *swift_demangle(const char *name, size_t len, char *out, size_t *outlen, uint32_t flags) { return NULL; }
EOF
gcc -shared -fPIC -O2 -o "$DIR/swift_demangle_stub.so" "$DIR/swift_demangle_stub.c"
PRELOAD="$LIBASAN:$DIR/swift_demangle_stub.so"
LD_PRELOAD=$PRELOAD ASAN_OPTIONS=detect_leaks=0 timeout 20 "$RBIN/postgres" -V >/dev/null \
    || { echo "ASan: postgres -V does not run with the runtime preloaded"; exit 1; }

# the server gets the ASan runtime through this wrapper, nothing else does
mv "$RBIN/postgres" "$RBIN/postgres.real"
cat > "$RBIN/postgres" <<EOF
#!/bin/bash
# mana_sync's scripts/asan.sh: run PostgreSQL with the ASan runtime preloaded
export LD_PRELOAD="$PRELOAD\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$REPORTS/asan${MANA_ASAN_OPTIONS:+:$MANA_ASAN_OPTIONS}"
exec -a "\$0" "\$(dirname "\$0")/postgres.real" "\$@"
EOF
chmod 755 "$RBIN/postgres"
export PATH="$RBIN:$PATH"

say "ASan: starting PostgreSQL with mana_sync preloaded (port $PORT, worker port $WS_PORT)"
mana_start_cluster "$CLUSTER" "$PORT" "shared_preload_libraries = 'mana_sync'" \
    "mana_sync.port = $WS_PORT" "mana_sync.jwks_file = '$DIR/jwks.json'" \
    "mana_sync.jwt_secret = 'test-secret'" "mana_sync.auth_timeout = '1s'"
export PGHOST=$CLUSTER PGPORT=$PORT PGUSER=$PGOSUSER

# check that the runtime and the private module are in the server processes
check_maps() {  # check_maps WHAT PID
    local maps
    maps=$(cat "/proc/$2/maps")
    if ! grep -q "libasan" <<<"$maps" || ! grep -q "$RLIB/mana_sync.so" <<<"$maps"; then
        echo "ASan: the $1 (pid $2) lacks libasan or $RLIB/mana_sync.so"; exit 1
    fi
    echo "ASan: $1 (pid $2) has $(basename "$LIBASAN") and $RLIB/mana_sync.so"
}
check_maps postmaster "$(head -1 "$CLUSTER/data/postmaster.pid")"
wpid=""
for _ in $(seq 1 100); do
    wpid=$(psql -qXAt -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mana_sync push worker'")
    [ -n "$wpid" ] && break
    sleep 0.1
done
[ -n "$wpid" ] || { echo "ASan: the push worker did not start"; tail -50 "$CLUSTER/log"; exit 1; }
check_maps "push worker" "$wpid"
# and in a backend, read from inside it
psql -qXAt -d postgres -c "SELECT pg_read_file('/proc/self/maps')" > "$DIR/backend.maps"
if ! grep -q libasan "$DIR/backend.maps" || ! grep -q "$RLIB/mana_sync.so" "$DIR/backend.maps"; then
    echo "ASan: a backend lacks libasan or $RLIB/mana_sync.so"; exit 1
fi
echo "ASan: a backend has them too"

# show_reports: print the reports (60 lines each); fails when there is none
show_reports() {
    local f found=1
    for f in "$REPORTS"/asan.*; do
        [ -e "$f" ] || continue
        found=0
        echo "---- $f"
        head -60 "$f"
    done
    return $found
}

if [ "$MODE" = selfcheck ]; then
    # the worker first: the backend's report restarts the cluster
    /usr/bin/python3 -c "
import time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen('http://127.0.0.1:$WS_PORT/health', timeout=5).read()
        print('GET /health answered')
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
    except Exception as e:
        print('GET /health:', e)
        break"
    sleep 1
    psql -qX -d postgres -c "CREATE EXTENSION mana_sync" -c "SELECT * FROM mana_sync_worker_stats()" >/dev/null 2>&1 || true
    sleep 1
    mana_stop_cluster "$CLUSTER"
    show_reports || true
    ok=0; bad=0
    if [ -n "$(grep -l 'heap-buffer-overflow' "$REPORTS"/asan.* 2>/dev/null | xargs -r grep -l 'mana_sync_worker_stats')" ]; then
        echo "selfcheck: the heap overflow in a backend was reported"; ok=$((ok + 1))
    else echo "selfcheck: FAILED: no report of the heap overflow in mana_sync_worker_stats"; bad=$((bad + 1)); fi
    if [ -n "$(grep -l 'stack-buffer-overflow' "$REPORTS"/asan.* 2>/dev/null | xargs -r grep -l 'serve_health')" ]; then
        echo "selfcheck: the stack overflow in the worker was reported"; ok=$((ok + 1))
    else echo "selfcheck: FAILED: no report of the stack overflow in serve_health"; bad=$((bad + 1)); fi
    echo "$ok passed, $bad failed"
    [ "$bad" -eq 0 ]
    exit
fi

passed=0
failed=0
# run_it SCRIPT: one integration script, tallied from its "N passed, M failed".
# One kind of failure is waived: a test whose only failed assertion is a
# bound on the worker's memory ("AssertionError: worker memory grew by"; in
# t_connection_churn_memory and t_coalescing_and_stalled_client the bound is
# the last assertion, after every functional one).  Under ASan, RSS measures
# the sanitizer: freed memory stays poisoned in its quarantine (up to 256 MB
# per process, so that a use after free is caught) before it is reused.
# Measured here: 1,000 connections opened and closed grew the worker by
# 38 MB, and by 16 kB with ASAN_OPTIONS=quarantine_size_mb=0 (normal build:
# 8 kB).  The bounds are checked by the normal run of the same scripts.
run_it() {
    local script=$1 rc ok bad waived n t log
    [[ $script == */* ]] || script=test/integration/$script
    log=$DIR/$(basename "${script%.py}").log
    say "ASan: $script"
    set +e
    MANA_WS_PORT=$WS_PORT MANA_JWKS_FILE=$DIR/jwks.json MANA_JWT_SECRET=test-secret \
    MANA_PGDATA=$CLUSTER/data MANA_PGOSUSER=$PGOSUSER \
        timeout "$PY_TIMEOUT" /usr/bin/python3 "$MANA_ROOT/$script" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    ok=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ { print $1 }' "$log" | tail -1)
    bad=$(awk '/^[0-9]+ passed, [0-9]+ failed$/ { print $3 }' "$log" | tail -1)
    ok=${ok:-0}; bad=${bad:-0}
    waived=$(awk '
        function close_test() { if (cur != "" && mem && !other) { print cur; n++ } cur = "" }
        /^(ok  |FAIL) / { close_test(); if ($1 == "FAIL") { cur = $2; mem = 0; other = 0 }; next }
        /^[0-9]+ passed, [0-9]+ failed$/ { close_test(); next }
        cur != "" && /^AssertionError: worker memory grew by/ { mem = 1; next }
        cur != "" && /^[A-Za-z_.]*(Error|Exception|Timeout)[A-Za-z_]*(:|$)/ { other = 1 }
        END { close_test() }' "$log")
    n=0
    if [ -n "$waived" ] && [ "$bad" -gt 0 ]; then
        for t in $waived; do echo "waived under ASan, not counted (a memory bound, see scripts/asan.sh): $t"; done
        n=$(wc -w <<<"$waived")
        bad=$((bad - n))     # neither passed nor failed: not counted
    fi
    # a crash, a timeout (no closing line) or a failure exit with nothing waived
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && { [ "$n" -eq 0 ] || [ "$rc" -ne 1 ]; }; then bad=1; fi
    passed=$((passed + ok)); failed=$((failed + bad))
}
for script in $SCRIPTS; do
    run_it "$script"
done
mana_stop_cluster "$CLUSTER"
# worker_test.py ends with kill -9 of the postmaster: wait for every process
# of the cluster (a report is written before its process ends)
for _ in $(seq 1 100); do
    pgrep -f "$CLUSTER/data" >/dev/null || break
    sleep 0.1
done

say "ASan: reports in $REPORTS"
if show_reports; then
    echo "FAIL AddressSanitizer reported errors (files above; the server log is $CLUSTER/log)"
    failed=$((failed + 1))
else
    echo "ok   no AddressSanitizer report"
    passed=$((passed + 1))
fi
echo "ASan stage took $(( $(date +%s) - T0 ))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
