#!/usr/bin/env bash
# The convergence torture harness on a cluster of its own (mana_sync must be
# installed: make install).  Arguments go to torture.py, for example
#     bash test/torture/run.sh --seconds 600
# Port, worker port and directory: MANA_TORTURE_PORT (55471),
# MANA_TORTURE_WS_PORT (3071), MANA_TORTURE_DIR (/tmp/mana-torture).
source "$(dirname "$0")/../../scripts/lib.sh"

PORT=${MANA_TORTURE_PORT:-55471}
WS_PORT=${MANA_TORTURE_WS_PORT:-3071}
DIR=${MANA_TORTURE_DIR:-/tmp/mana-torture}

trap 'mana_stop_cluster "$DIR"' EXIT
mana_start_cluster "$DIR" "$PORT" "shared_preload_libraries = 'mana_sync'" \
    "mana_sync.port = $WS_PORT" "mana_sync.jwt_secret = 'test-secret'"
PGHOST=$DIR PGPORT=$PORT PGUSER=$PGOSUSER MANA_WS_PORT=$WS_PORT MANA_JWT_SECRET=test-secret \
    /usr/bin/python3 "$MANA_ROOT/test/torture/torture.py" "$@"
