#!/usr/bin/python3
"""Integration tests of the push worker: a real cluster with mana_sync
preloaded, driven with a real WebSocket client (Debian's python3-websockets).

Run by scripts/test.sh, which starts the cluster and passes, in the
environment: PGHOST/PGPORT/PGUSER (the cluster), MANA_WS_PORT (the worker),
MANA_JWKS_FILE (the path mana_sync.jwks_file points to), MANA_JWT_SECRET,
MANA_PGDATA and MANA_PGOSUSER (for pg_ctl).  The cluster runs with
mana_sync.auth_timeout = 1s.  Prints one line per test and a closing
"N passed, M failed".
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import traceback

import websockets
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

WS = "ws://127.0.0.1:%s" % os.environ.get("MANA_WS_PORT", "3091")
HTTP_PORT = int(os.environ.get("MANA_WS_PORT", "3091"))
JWKS_FILE = os.environ["MANA_JWKS_FILE"]
SECRET = os.environ.get("MANA_JWT_SECRET", "test-secret").encode()
DB = "worker_test"


# ------------------------------------------------------------------ helpers

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64int(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


def psql(sql, db=DB, options=None):
    env = dict(os.environ)
    if options:
        env["PGOPTIONS"] = options
    r = subprocess.run(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr)
    return r.stdout.strip()


class Keys:
    def __init__(self):
        self.ed = ed25519.Ed25519PrivateKey.generate()
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_ed = ed25519.Ed25519PrivateKey.generate()

    def jwks(self, with_ed=True):
        from cryptography.hazmat.primitives import serialization
        keys = []
        if with_ed:
            raw = self.ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            keys.append({"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "alg": "EdDSA", "x": b64(raw)})
        pn = self.ec.public_key().public_numbers()
        keys.append({"kty": "EC", "crv": "P-256", "kid": "ec-1", "x": b64int(pn.x, 32), "y": b64int(pn.y, 32)})
        rn = self.rsa.public_key().public_numbers()
        keys.append({"kty": "RSA", "kid": "rsa-1", "n": b64int(rn.n), "e": b64int(rn.e)})
        return {"keys": keys}


def token(alg, sub="alice", kid=None, key=None, exp=None, nbf=None, header_extra=None, claims_extra=None,
          secret=SECRET):
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    if header_extra:
        header.update(header_extra)
    claims = {"sub": sub, "exp": exp if exp is not None else now + 3600, "iat": now}
    if nbf is not None:
        claims["nbf"] = nbf
    if claims_extra:
        claims.update(claims_extra)
    signing = ("%s.%s" % (b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()))).encode()
    if alg == "HS256":
        sig = hmac.new(secret, signing, hashlib.sha256).digest()
    elif alg == "EdDSA":
        sig = key.sign(signing)
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "RS256":
        sig = key.sign(signing, padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = b""
    return signing.decode() + "." + b64(sig)


async def connect(path="/ws/todo"):
    return await websockets.connect(WS + path, max_size=2 ** 20, open_timeout=5, ping_interval=None)


async def auth(ws, tok, client_id=None):
    msg = {"type": "auth", "token": tok}
    if client_id:
        msg["clientId"] = client_id
    await ws.send(json.dumps(msg))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def expect_refused(tok):
    """auth with tok: an error message, then close code 1008"""
    ws = await connect()
    try:
        reply = await auth(ws, tok)
        assert reply["type"] == "error", reply
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("connection stayed open after a refused token")
        except websockets.ConnectionClosed as e:
            assert e.code == 1008, "close code %s" % e.code
        return reply["message"]
    finally:
        await ws.close()


async def recv_json(ws, timeout=3.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing(ws, timeout=0.5):
    """True when nothing arrives within timeout"""
    try:
        msg = await asyncio.wait_for(ws.recv(), timeout)
        raise AssertionError("unexpected message: %s" % msg)
    except asyncio.TimeoutError:
        return True


def apply(user, client, table_id, title, at=None):
    at = at or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    cs = {"appId": "todo", "clientId": client,
          "changes": [{"table": "tasks", "id": table_id, "op": "update",
                       "fields": {"title": {"value": title, "updatedAt": at}}}]}
    psql("SELECT mana_apply_changeset('%s', '%s') IS NOT NULL" % (json.dumps(cs).replace("'", "''"), user))


def worker_pid():
    return int(psql("SELECT coalesce(pid, 0) FROM mana_sync_worker_stats()"))


def worker_rss_kb():
    with open("/proc/%d/status" % worker_pid()) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http_get(path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def wait_for(cond, timeout=10.0, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(step)
    return False


# ------------------------------------------------------------------ tests

KEYS = Keys()


async def t_auth_each_algorithm():
    for alg, kid, key in (("EdDSA", "ed-1", KEYS.ed), ("ES256", "ec-1", KEYS.ec),
                          ("RS256", "rsa-1", KEYS.rsa), ("HS256", None, None)):
        ws = await connect()
        reply = await auth(ws, token(alg, kid=kid, key=key))
        assert reply == {"type": "auth-ok"}, (alg, reply)
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv_json(ws) == {"type": "pong"}
        await ws.close()


async def t_auth_refusals():
    now = int(time.time())
    cases = {
        "expired": token("HS256", exp=now - 3600),
        "not yet valid": token("HS256", nbf=now + 3600),
        "wrong signature": token("EdDSA", kid="ed-1", key=KEYS.other_ed),
        "wrong key type": token("RS256", kid="ed-1", key=KEYS.rsa),
        "alg none": token("none", kid="ed-1"),
        "unknown kid": token("EdDSA", kid="nope", key=KEYS.ed),
        "hs256 with the wrong secret": token("HS256", secret=b"not the secret"),
        "garbage": "garbage",
        "bad base64": "e30.e30.!!!",
        "no sub": token("HS256", sub=""),
    }
    for name, tok in cases.items():
        msg = await expect_refused(tok)
        assert msg, name
    # not JSON / not an auth message before auth: refused too
    ws = await connect()
    await ws.send("not json")
    assert (await recv_json(ws))["type"] == "error"
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("still open")
    except websockets.ConnectionClosed as e:
        assert e.code == 1008


async def t_auth_timeout():
    ws = await connect()
    t0 = time.time()
    msg = await recv_json(ws, timeout=5)
    assert msg["type"] == "error", msg
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("still open")
    except websockets.ConnectionClosed as e:
        assert e.code == 1008, e.code
    elapsed = time.time() - t0
    assert 0.5 < elapsed < 3.5, "closed after %.1fs, auth_timeout is 1s" % elapsed


async def t_routing():
    # two users, two devices each, plus a device of alice on another app and one on /ws
    a1 = await connect("/ws/todo?clientId=a1")
    a2 = await connect("/ws/todo")
    b1 = await connect("/ws/todo?clientId=b1")
    b2 = await connect("/ws/todo?clientId=b2")
    a_notes = await connect("/ws/notes?clientId=a-notes")
    a_all = await connect("/ws?clientId=a-all")
    for ws, user, cid in ((a1, "alice", None), (a2, "alice", "a2"), (b1, "bob", None), (b2, "bob", None),
                          (a_notes, "alice", None), (a_all, "alice", None)):
        assert (await auth(ws, token("HS256", sub=user), cid))["type"] == "auth-ok"

    # through mana_apply_changeset, from device a1
    apply("alice", "a1", "r1", "hello")
    want = {"type": "sync-available", "appId": "todo", "tables": ["tasks"]}
    assert await recv_json(a2) == want
    assert await recv_json(a_all) == want
    for ws in (a1, b1, b2, a_notes):
        assert await nothing(ws, 0.3)

    # through plain SQL (no client): every device of the user in the app
    psql("UPDATE tasks SET title = 'from sql' WHERE id = 'r1'")
    assert await recv_json(a1) == want
    assert await recv_json(a2) == want
    assert await recv_json(a_all) == want
    for ws in (b1, b2, a_notes):
        assert await nothing(ws, 0.3)

    # bob's device b2 writes: only b1 hears
    apply("bob", "b2", "r2", "bob's")
    assert await recv_json(b1) == want
    for ws in (a1, a2, a_all, a_notes, b2):
        assert await nothing(ws, 0.3)
    for ws in (a1, a2, b1, b2, a_notes, a_all):
        await ws.close()


async def t_coalescing_and_stalled_client():
    import socket
    fast = await connect("/ws/todo")
    assert (await auth(fast, token("HS256", sub="carol")))["type"] == "auth-ok"
    # the stalled client: a tiny receive buffer, and it never reads after auth
    sock = socket.create_connection(("127.0.0.1", HTTP_PORT))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stalled = await websockets.connect(WS + "/ws/todo", sock=sock, ping_interval=None)
    assert (await auth(stalled, token("HS256", sub="carol")))["type"] == "auth-ok"
    coalesced = int(psql("SELECT hints_coalesced FROM mana_sync_worker_stats()"))
    rss0 = worker_rss_kb()
    psql("CREATE OR REPLACE PROCEDURE burst(n int, t text) LANGUAGE plpgsql AS $$ "
         "BEGIN FOR i IN 1..n LOOP INSERT INTO tasks VALUES (t || i, 'carol', 'x') "
         "ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title || i; COMMIT; END LOOP; END $$")
    # many bursts of commits, while the fast client reads and the stalled one does not
    got = 0
    for round_ in range(6):
        psql("CALL burst(300, 'c%d-')" % round_, options="-c synchronous_commit=off")
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(fast.recv(), 0.3))
                assert msg == {"type": "sync-available", "appId": "todo", "tables": ["tasks"]}, msg
                got += 1
        except asyncio.TimeoutError:
            pass
    # one more write: the fast client hears it at once, stalled neighbour or not
    t0 = time.time()
    psql("INSERT INTO tasks VALUES ('c-last', 'carol', 'x')")
    assert (await recv_json(fast, 2))["type"] == "sync-available"
    delay = time.time() - t0
    rss1 = worker_rss_kb()
    print("    1,800 commits: fast client got %d hints (coalesced %d), last one after %.0f ms; worker RSS %+d kB"
          % (got, int(psql("SELECT hints_coalesced FROM mana_sync_worker_stats()")) - coalesced,
             delay * 1000, rss1 - rss0))
    assert 1 <= got < 1800, got
    assert int(psql("SELECT hints_coalesced FROM mana_sync_worker_stats()")) > coalesced
    assert delay < 1.0, delay
    assert rss1 - rss0 < 2048, "worker memory grew by %d kB with a stalled client" % (rss1 - rss0)
    await fast.close()
    sock.close()


async def t_limits():
    # a frame over the limit closes with 1009
    ws = await connect()
    await ws.send("x" * 20000)
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("still open")
    except websockets.ConnectionClosed as e:
        assert e.code == 1009, e.code
    # a binary frame: refused
    ws = await connect()
    await ws.send(b"\x00\x01")
    msg = await recv_json(ws)
    assert msg["type"] == "error", msg
    # unknown routes
    status, _ = http_get("/nope")
    assert status == 404, status
    for path in ("/ws/bad%20app", "/sync/todo", "/ws/", "/ws/a/b"):
        try:
            await connect(path)
            raise AssertionError("a WebSocket on %s was accepted" % path)
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 404, (path, e.status_code)


async def t_internal_protocols_refused():
    """the worker's internal lws protocols cannot be asked for by a client"""
    for proto in ("mana-sync-pool", "mana-sync-intake"):
        try:
            ws = await websockets.connect(WS + "/ws/todo", subprotocols=[proto], open_timeout=5)
        except (websockets.InvalidHandshake, OSError):
            continue            # refused during the handshake
        try:
            await asyncio.wait_for(ws.recv(), 2)
            raise AssertionError("a connection on %s answered" % proto)
        except websockets.ConnectionClosed:
            continue            # closed at once
        except asyncio.TimeoutError:
            raise AssertionError("a connection on %s stayed open" % proto)
    # and the public protocol still works
    ws = await connect()
    assert (await auth(ws, token("HS256", sub="kay")))["type"] == "auth-ok"
    await ws.close()


async def t_max_connections():
    psql("ALTER SYSTEM SET mana_sync.max_connections = 3", db="postgres")
    psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    try:
        held = [await connect() for _ in range(3)]
        refused = int(psql("SELECT connections_refused FROM mana_sync_worker_stats()"))
        try:
            await connect()
            raise AssertionError("a 4th connection was accepted over mana_sync.max_connections = 3")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 503, e.status_code
        assert int(psql("SELECT connections_refused FROM mana_sync_worker_stats()")) == refused + 1
        # the held ones still work
        assert (await auth(held[0], token("HS256", sub="ivy")))["type"] == "auth-ok"
        for c in held:
            await c.close()
        assert wait_for(lambda: json.loads(http_get("/health")[1])["connections"] == 0, 5)
        c = await connect()
        await c.close()
    finally:
        psql("ALTER SYSTEM RESET mana_sync.max_connections", db="postgres")
        psql("SELECT pg_reload_conf()", db="postgres")


async def t_health_and_metrics():
    ws = await connect()
    assert (await auth(ws, token("HS256", sub="dave")))["type"] == "auth-ok"
    status, body = http_get("/health")
    assert status == 200
    h = json.loads(body)
    assert h["status"] == "ok" and h["connections"] >= 1 and h["authenticatedUsers"] >= 1 \
        and h["databasesListened"] >= 1, h
    status, body = http_get("/metrics")
    assert status == 200
    for name in ("mana_sync_connections", "mana_sync_auth_failures_total", "mana_sync_notifications_received_total",
                 "mana_sync_messages_sent_total", "mana_sync_hints_coalesced_total",
                 "mana_sync_listener_reconnects_total"):
        assert "\n%s " % name in "\n" + body, name
    row = psql("SELECT running, connections >= 1, auth_failures > 0, notifications_received + ring_hints > 0, "
               "messages_sent > 0 FROM mana_sync_worker_stats()")
    assert row == "t|t|t|t|t", row
    await ws.close()


async def t_connection_churn_memory():
    async def one_round(n):
        conns = await asyncio.gather(*[connect() for _ in range(n)])
        await asyncio.gather(*[auth(c, token("HS256", sub="churn%d" % (i % 50))) for i, c in enumerate(conns)])
        await asyncio.gather(*[c.close() for c in conns])

    for _ in range(2):       # warm up allocator and lws pools
        await one_round(100)
    time.sleep(0.5)
    base = worker_rss_kb()
    for _ in range(10):      # 1,000 connections opened, authenticated and closed
        await one_round(100)
    assert wait_for(lambda: json.loads(http_get("/health")[1])["connections"] == 0, 5)
    # the worker hands freed heap back on its tick, at most every 5 s after
    # churn: give it one such period before calling the rest a leak
    wait_for(lambda: worker_rss_kb() - base < 1024, 7)
    after = worker_rss_kb()
    growth = after - base
    print("    worker RSS %d kB -> %d kB over 1,000 connections (%+d kB)" % (base, after, growth))
    assert growth < 1024, "worker memory grew by %d kB" % growth


async def t_sighup_new_jwks():
    # a token signed with the Ed25519 key works, then the key is taken out of the file
    ws = await connect()
    assert (await auth(ws, token("EdDSA", kid="ed-1", key=KEYS.ed)))["type"] == "auth-ok"
    with open(JWKS_FILE, "w") as f:
        json.dump(KEYS.jwks(with_ed=False), f)
    psql("SELECT pg_reload_conf()")
    assert await await_for(_refused_ed, 5), "the removed key still verifies"
    # the existing connection survived the reload
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv_json(ws) == {"type": "pong"}
    await ws.close()
    with open(JWKS_FILE, "w") as f:
        json.dump(KEYS.jwks(), f)
    psql("SELECT pg_reload_conf()")
    assert await await_for(_accepted_ed, 5), "the restored key does not verify"


async def await_for(coro_fn, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if await coro_fn():
            return True
        await asyncio.sleep(0.2)
    return False


async def _accepted_ed():
    return not await _refused_ed()


async def _refused_ed():
    ws = await connect()
    try:
        return (await auth(ws, token("EdDSA", kid="ed-1", key=KEYS.ed)))["type"] == "error"
    finally:
        await ws.close()


async def t_listener_terminated():
    ws = await connect("/ws/todo?clientId=watcher")
    assert (await auth(ws, token("HS256", sub="erin")))["type"] == "auth-ok"
    before = int(psql("SELECT listener_reconnects FROM mana_sync_worker_stats()"))
    psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         "WHERE application_name = 'mana_sync push worker' AND datname = '%s'" % DB)
    # after it reconnects, every client of the app is told to pull
    msg = await recv_json(ws, timeout=10)
    assert msg == {"type": "sync-available", "appId": "todo", "tables": ["tasks"]}, msg
    assert int(psql("SELECT listener_reconnects FROM mana_sync_worker_stats()")) == before + 1
    # and changes flow again
    apply("erin", "other", "e1", "after reconnect")
    assert (await recv_json(ws))["type"] == "sync-available"
    await ws.close()


async def t_worker_terminated():
    ws = await connect()
    assert (await auth(ws, token("HS256", sub="frank")))["type"] == "auth-ok"
    old = worker_pid()
    psql("SELECT pg_terminate_backend(%d)" % old)
    # the client is closed with going-away, and the worker comes back
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("still open")
    except websockets.ConnectionClosed as e:
        assert e.code == 1001, e.code
    assert wait_for(lambda: worker_pid() not in (0, old), 15), "the worker did not restart"
    assert wait_for(lambda: http_get("/health")[0] == 200, 10)
    ws = await connect()
    assert (await auth(ws, token("HS256", sub="frank")))["type"] == "auth-ok"
    assert wait_for(lambda: json.loads(http_get("/health")[1])["databasesListened"] >= 1, 10)
    apply("frank", "other", "f1", "back")
    assert (await recv_json(ws, timeout=5))["type"] == "sync-available"
    await ws.close()


async def t_new_database_served():
    psql("DROP DATABASE IF EXISTS worker_test_late WITH (FORCE)", db="postgres")
    listened = lambda: json.loads(http_get("/health")[1])["databasesListened"]  # noqa: E731
    assert wait_for(lambda: listened() >= 1, 10)
    n0 = listened()
    psql("CREATE DATABASE worker_test_late", db="postgres")
    psql("CREATE EXTENSION mana_sync; CREATE TABLE pages (id text PRIMARY KEY, user_id text NOT NULL, body text);"
         "SELECT mana_sync_enable('pages', 'notes')", db="worker_test_late")
    ws = await connect("/ws/notes")
    assert (await auth(ws, token("HS256", sub="gina")))["type"] == "auth-ok"
    t0 = time.time()
    ok = False
    while time.time() - t0 < 8 and not ok:
        psql("INSERT INTO pages VALUES ('p' || floor(random() * 1e9)::text, 'gina', 'x')", db="worker_test_late")
        try:
            ok = (await recv_json(ws, timeout=0.5))["appId"] == "notes"
        except asyncio.TimeoutError:
            pass
    elapsed = time.time() - t0
    assert ok, "a database created later was not served"
    print("    served %.1fs after CREATE EXTENSION" % elapsed)
    assert elapsed < 5.5
    await ws.close()
    # dropping it: the listener's loss is logged once, not once per retry
    # (commit_hook hints need no listener: wait until it is there)
    assert wait_for(lambda: listened() >= n0 + 1, 15), (n0, listened())
    log = os.path.join(os.environ["MANA_PGDATA"], "..", "log")
    start = os.path.getsize(log)
    psql("DROP DATABASE worker_test_late WITH (FORCE)", db="postgres")
    time.sleep(3)
    with open(log, errors="replace") as f:
        f.seek(start)
        lost = f.read().count('lost the connection to database "worker_test_late"')
    print("    dropped: %d log line(s) about the lost listener in 3 s" % lost)
    assert lost == 1, lost


async def t_fast_shutdown():
    conns = [await connect() for _ in range(20)]
    for c in conns:
        assert (await auth(c, token("HS256", sub="hank")))["type"] == "auth-ok"
    pgdata = os.environ["MANA_PGDATA"]
    t0 = time.time()
    r = subprocess.run(["runuser", "-u", os.environ.get("MANA_PGOSUSER", "postgres"), "--",
                        "pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop"], capture_output=True, text=True, cwd="/")
    elapsed = time.time() - t0
    assert r.returncode == 0, r.stderr
    codes = []
    for c in conns:
        try:
            await asyncio.wait_for(c.recv(), 2)
        except websockets.ConnectionClosed as e:
            codes.append(e.code)
        except asyncio.TimeoutError:
            codes.append(None)
    print("    pg_ctl stop -m fast took %.2fs" % elapsed)
    assert elapsed < 2.0, elapsed
    assert codes.count(1001) == len(conns), codes


def listening():
    """the worker's intake connection to the test database is up (with
    notify_mode = commit_hook hints come through shared memory, so a hint
    alone does not show that the database is listened to)"""
    return psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mana_sync push worker' "
                "AND datname = '%s' AND (query LIKE 'LISTEN%%' OR query LIKE 'SELECT r.app_id%%')" % DB) != "0"


async def ready():
    """the worker hints a write in the test database (it may still be finding it)"""
    end = time.time() + 20
    while time.time() < end:
        try:
            ws = await connect()
            if listening() and (await auth(ws, token("HS256", sub="probe")))["type"] == "auth-ok":
                psql("INSERT INTO tasks VALUES ('probe-' || floor(random() * 1e9)::text, 'probe', 'x')")
                try:
                    if (await recv_json(ws, 0.5))["type"] == "sync-available":
                        await ws.close()
                        return True
                except asyncio.TimeoutError:
                    pass
            await ws.close()
        except OSError:
            await asyncio.sleep(0.5)
    return False


def alive(pid):
    """running (an exited process may linger as a zombie until it is reaped)"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


async def t_postmaster_death():
    """after t_fast_shutdown: start again, kill -9 the postmaster, the worker ends at once"""
    pgdata = os.environ["MANA_PGDATA"]
    user = os.environ.get("MANA_PGOSUSER", "postgres")
    r = subprocess.run(["runuser", "-u", user, "--", "pg_ctl", "-D", pgdata, "-l", pgdata + "/../log", "-w", "start"],
                       capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: worker_pid() > 0, 10)
    wpid = worker_pid()
    with open(pgdata + "/postmaster.pid") as f:
        pm = int(f.readline())
    os.kill(pm, 9)
    t0 = time.time()
    gone = wait_for(lambda: not alive(wpid), 5, 0.02)
    elapsed = time.time() - t0
    print("    worker gone %.2fs after the postmaster was killed" % elapsed)
    assert gone and elapsed < 1.0, elapsed
    # let the other children go, so the cluster can be started or removed
    wait_for(lambda: subprocess.run(["pgrep", "-f", pgdata], capture_output=True).returncode != 0, 10)


TESTS = [
    t_auth_each_algorithm, t_auth_refusals, t_auth_timeout, t_routing, t_coalescing_and_stalled_client,
    t_limits, t_internal_protocols_refused, t_max_connections, t_health_and_metrics, t_connection_churn_memory, t_sighup_new_jwks, t_listener_terminated,
    t_worker_terminated, t_new_database_served, t_fast_shutdown, t_postmaster_death,
]


def setup():
    """a fresh test database with a synced table, and the key file"""
    with open(JWKS_FILE, "w") as f:
        json.dump(KEYS.jwks(), f)
    psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB, db="postgres")
    psql("CREATE DATABASE %s" % DB, db="postgres")
    psql("CREATE EXTENSION mana_sync; CREATE TABLE tasks (id text PRIMARY KEY, user_id text NOT NULL, title text);"
         "SELECT mana_sync_enable('tasks', 'todo')")
    psql("SELECT pg_reload_conf()")


def run(tests, names):
    """run the tests (or those named), one line each, then the closing count"""
    setup()
    if not asyncio.run(ready()):
        print("the worker never listened to the test database")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for t in tests:
        if names and t.__name__ not in names:
            continue
        t0 = time.time()
        try:
            asyncio.run(asyncio.wait_for(t(), 120))
            passed += 1
            print("ok   %-36s %.1fs" % (t.__name__, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            # on stdout, right after its FAIL line: scripts/asan.sh reads
            # them in this order, whatever the buffering
            print("FAIL %-36s %.1fs" % (t.__name__, time.time() - t0), flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def main():
    return run(TESTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
