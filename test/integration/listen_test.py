#!/usr/bin/python3
"""The push worker listens exactly where mana_sync.listen_address says.

Starts its own cluster (mana_sync preloaded, unix socket only) in
MANA_LISTEN_DIR (default /tmp/mana-listen-test) as the OS user
MANA_PGOSUSER, once per setting, with the worker on MANA_LISTEN_WS_PORT
(default 3092).  For each setting it reads the listening TCP sockets of the
port from /proc/net/tcp and /proc/net/tcp6 (what `ss -ltn` shows) and
connects to loopback addresses only: the tests never send traffic to the
machine's network addresses.  Prints one line per test and
"N passed, M failed".
"""
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.request

DIR = os.environ.get("MANA_LISTEN_DIR", "/tmp/mana-listen-test")
PG_PORT = int(os.environ.get("MANA_LISTEN_PG_PORT", "55434"))
WS_PORT = int(os.environ.get("MANA_LISTEN_WS_PORT", "3092"))
OSUSER = os.environ.get("MANA_PGOSUSER", "postgres")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
DATA = os.path.join(DIR, "data")
LOG = os.path.join(DIR, "log")


def as_pg(*args, check=True):
    return subprocess.run(["runuser", "-u", OSUSER, "--"] + list(args), capture_output=True, text=True,
                          check=check, cwd="/")


def init_cluster():
    stop()
    subprocess.run(["rm", "-rf", DIR], check=True)
    os.makedirs(DIR)
    subprocess.run(["chown", OSUSER, DIR], check=True)
    as_pg(PGBIN + "/initdb", "-D", DATA, "-A", "trust", "-U", OSUSER, "-E", "UTF8", "--locale=C", "--no-sync")
    with open(os.path.join(DATA, "postgresql.conf"), "a") as f:
        f.write("port = %d\nlisten_addresses = ''\nunix_socket_directories = '%s'\n"
                "shared_preload_libraries = 'mana_sync'\nmana_sync.port = %d\n"
                "include_if_exists = 'listen.conf'\n" % (PG_PORT, DIR, WS_PORT))


def stop():
    if os.path.exists(os.path.join(DATA, "postmaster.pid")):
        as_pg(PGBIN + "/pg_ctl", "-D", DATA, "-m", "fast", "-w", "-t", "60", "stop", check=False)


def start(setting):
    """restart the cluster with mana_sync.listen_address = setting (None: not set, the default)"""
    stop()
    conf = os.path.join(DATA, "listen.conf")
    with open(conf, "w") as f:
        if setting is not None:
            f.write("mana_sync.listen_address = '%s'\n" % setting)
    os.chmod(conf, 0o644)
    if os.path.exists(LOG):
        os.unlink(LOG)
    as_pg(PGBIN + "/pg_ctl", "-D", DATA, "-l", LOG, "-w", "-t", "60", "start")


def log_text():
    with open(LOG, errors="replace") as f:
        return f.read()


def hexaddr(h, v6):
    """an address of /proc/net/tcp{,6} (network order, in 32-bit words of host order)"""
    raw = bytes.fromhex(h)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, words)


def listening(port=WS_PORT):
    """the addresses with a listening TCP socket on port: {"127.0.0.1", "::1", ...}"""
    found = set()
    for name, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = open(name).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if f[3] == "0A" and int(p, 16) == port:   # 0A: LISTEN
                found.add(hexaddr(addr, v6))
    return found


def health(host, timeout=3):
    """the worker's /health over host (a loopback address), or the connection error"""
    url = "http://%s:%d/health" % ("[%s]" % host if ":" in host else host, WS_PORT)
    try:
        return urllib.request.urlopen(url, timeout=timeout).read().decode()
    except OSError as e:
        return e


def served(host):
    r = health(host)
    return isinstance(r, str) and '"status":"ok"' in r


def refused(host):
    r = health(host)
    return isinstance(r, OSError) and "refused" in str(r).lower()


def wait_listening(want, timeout=15):
    """wait until the worker's sockets are exactly the set want"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if listening() == want:
            return
        time.sleep(0.1)
    raise AssertionError("listening on %s, expected %s; log:\n%s" % (sorted(listening()), sorted(want),
                                                                     log_text()[-2000:]))


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ tests

def t_default_is_loopback_only():
    start(None)
    wait_listening({"127.0.0.1"})
    assert served("127.0.0.1")
    assert refused("127.0.0.2"), health("127.0.0.2")
    if has_ipv6_loopback():
        assert refused("::1"), health("::1")
    assert "push worker listening on 127.0.0.1:%d" % WS_PORT in log_text()


def t_another_loopback_address():
    start("127.0.0.2")
    wait_listening({"127.0.0.2"})
    assert served("127.0.0.2")
    assert refused("127.0.0.1"), health("127.0.0.1")
    assert "push worker listening on 127.0.0.2:%d" % WS_PORT in log_text()


def t_ipv6_loopback():
    assert has_ipv6_loopback(), "this machine has no IPv6 loopback (::1)"
    start("::1")
    wait_listening({"::1"})
    assert served("::1")
    assert refused("127.0.0.1"), health("127.0.0.1")
    assert "push worker listening on [::1]:%d" % WS_PORT in log_text()


def t_list_of_addresses():
    start("127.0.0.2, [::1]")
    wait_listening({"127.0.0.2", "::1"})
    assert served("127.0.0.2") and served("::1")
    assert refused("127.0.0.1"), health("127.0.0.1")


def t_host_name():
    # every address the name has (as PostgreSQL's listen_addresses does)
    want = set()
    for ai in socket.getaddrinfo("localhost", WS_PORT, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE):
        want.add(ai[4][0])
    assert "127.0.0.1" in want, want
    start("localhost")
    wait_listening(want)
    assert served("127.0.0.1")
    assert refused("127.0.0.2"), health("127.0.0.2")


def t_every_address():
    start("*")
    want = {"0.0.0.0", "::"} if has_ipv6_loopback() else {"0.0.0.0"}
    wait_listening(want)
    # loopback only: 127.0.0.2 is not 127.0.0.1 but served by the wildcard
    assert served("127.0.0.1") and served("127.0.0.2")
    if has_ipv6_loopback():
        assert served("::1")


def t_bad_entry_is_skipped_and_logged():
    start("127.0.0.2, no-such-host.invalid")
    wait_listening({"127.0.0.2"})
    assert served("127.0.0.2")
    text = log_text()
    assert 'could not resolve mana_sync.listen_address entry "no-such-host.invalid"' in text, text[-2000:]


def t_nothing_to_listen_on():
    # the worker fails with a clear message and binds nothing; the database is fine
    start("no-such-host.invalid")
    deadline = time.time() + 15
    while time.time() < deadline and "could not listen on any address" not in log_text():
        time.sleep(0.1)
    text = log_text()
    assert 'could not listen on any address of mana_sync.listen_address "no-such-host.invalid"' in text, \
        text[-2000:]
    assert listening() == set(), listening()
    r = as_pg(PGBIN + "/psql", "-h", DIR, "-p", str(PG_PORT), "-qXAt", "-d", "postgres", "-c", "SELECT 1")
    assert r.stdout.strip() == "1", r


TESTS = [t_default_is_loopback_only, t_another_loopback_address, t_ipv6_loopback, t_list_of_addresses,
         t_host_name, t_every_address, t_bad_entry_is_skipped_and_logged, t_nothing_to_listen_on]


def main():
    assert not listening(), "port %d is in use: %s" % (WS_PORT, listening())
    init_cluster()
    passed = failed = 0
    try:
        for t in TESTS:
            try:
                t()
                print("ok   %s" % t.__name__, flush=True)
                passed += 1
            except Exception:
                print("FAIL %s" % t.__name__, flush=True)
                traceback.print_exc(file=sys.stdout)
                sys.stdout.flush()
                failed += 1
    finally:
        stop()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
