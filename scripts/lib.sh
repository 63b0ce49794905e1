# Shared shell functions of mana_sync's scripts (sourced, not run).
# Everything runs as root; PostgreSQL runs as the unprivileged OS user
# $PGOSUSER (Debian's "postgres", created when missing).

set -euo pipefail

MANA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGOSUSER=${PGOSUSER:-postgres}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH="$PGBIN:$PATH"

say() { printf '\n== %s\n' "$*"; }

# apt_install PKG...: apt-get update, then install, without questions
apt_install() {
    say "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

# Debian packages the build, tests and benchmarks need.
mana_install_deps() {
    local pkgs="postgresql-15 postgresql-server-dev-15 postgresql-contrib libkrb5-dev
                libcmocka-dev clang-14 libclang-rt-14-dev make gcc pkg-config
                libwebsockets-dev libev-dev libssl-dev python3-websockets python3-cryptography"
    local missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ] || [ "${MANA_APT_UPDATE:-0}" = 1 ]; then
        # shellcheck disable=SC2086
        apt_install $pkgs
    fi
    if ! id "$PGOSUSER" >/dev/null 2>&1; then
        useradd --system --create-home --shell /bin/bash "$PGOSUSER"
    fi
}

# Node.js and npm (the todo example, its browser test, the push benchmarks):
# Debian's, unless a node is already there; Debian's chromium for Playwright.
mana_install_node() {
    local pkgs=""
    command -v node >/dev/null || pkgs="$pkgs nodejs"
    command -v npm >/dev/null || pkgs="$pkgs npm"
    [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null && pkgs="$pkgs chromium"
    if [ -n "$pkgs" ]; then
        # shellcheck disable=SC2086
        apt_install $pkgs
    fi
}

mana_build() {
    say "building (warnings are errors)"
    # from scratch, so that -Werror sees every file
    make -C "$MANA_ROOT" -s clean >/dev/null
    make -C "$MANA_ROOT" -s MANA_WERROR=1 >/dev/null
    make -C "$MANA_ROOT" -s install >/dev/null
}

as_pg() { runuser -u "$PGOSUSER" -- "$@"; }

# mana_start_cluster DIR PORT [extra postgresql.conf lines...]
mana_start_cluster() {
    local dir=$1 port=$2; shift 2
    mana_stop_cluster "$dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    chown "$PGOSUSER" "$dir"
    as_pg initdb -D "$dir/data" -A trust -U "$PGOSUSER" --no-sync >/dev/null
    {
        echo "port = $port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "fsync = on"
        echo "max_connections = 200"
        echo "shared_buffers = 256MB"
        echo "logging_collector = off"
        for line in "$@"; do echo "$line"; done
    } >> "$dir/data/postgresql.conf"
    as_pg pg_ctl -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null
}

mana_stop_cluster() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
}
