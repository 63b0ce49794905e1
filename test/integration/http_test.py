#!/usr/bin/python3
"""Integration tests of the push worker's HTTP sync endpoints (POST
/sync/{appId}, GET /sync/{appId}/pull), run by scripts/test.sh against the
same preloaded cluster as worker_test.py (same environment variables).
Prints one line per test and "N passed, M failed"."""
import asyncio
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_test as w  # noqa: E402  (helpers: tokens, psql, WebSocket client)

PORT = w.HTTP_PORT
DB = w.DB


def request(method, path, body=None, token=None, client=None, headers=None, conn=None):
    """one request; returns (status, headers dict, parsed JSON or text)"""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    h = {}
    if token:
        h["Authorization"] = "Bearer " + token
    if client:
        h["X-Client-Id"] = client
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read().decode()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    if own:
        conn.close()
    try:
        return r.status, hdrs, json.loads(data)
    except ValueError:
        return r.status, hdrs, data


def tok(user):
    return w.token("HS256", sub=user)


def ts(sec):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + sec)) + ".000Z"


T0 = time.time() - 3600   # field times an hour ago and later: newer than the rows' server stamps


def table_md5():
    return w.psql("SELECT md5(coalesce(string_agg(t::text, '' ORDER BY id), '')) FROM tasks t")


def insert(id_, title, sec):
    return {"table": "tasks", "id": id_, "op": "insert",
            "data": {"id": id_, "title": title, "createdAt": ts(sec), "updatedAt": ts(sec)}}


def update(id_, fields, sec):
    return {"table": "tasks", "id": id_, "op": "update",
            "fields": {k: {"value": v, "updatedAt": ts(sec)} for k, v in fields.items()}}


# ------------------------------------------------------------------ tests

async def t_http_end_to_end():
    w.psql("ALTER TABLE tasks ADD COLUMN IF NOT EXISTS done boolean DEFAULT false")
    b = await w.connect("/ws/todo?clientId=dev-b")
    a = await w.connect("/ws/todo?clientId=dev-a")
    c = await w.connect("/ws/todo?clientId=dev-c")
    for ws, user in ((a, "hal"), (b, "hal"), (c, "ida")):
        assert (await w.auth(ws, tok(user)))["type"] == "auth-ok"
    # A pushes an insert and an update
    st, _, res = request("POST", "/sync/todo", {"changes": [insert("e2e-1", "milk", 1)]}, tok("hal"), "dev-a")
    assert st == 200 and res["conflicts"] == [], (st, res)
    st, _, res = request("POST", "/sync/todo", {"since": res["syncedUntil"],
                                                "changes": [update("e2e-1", {"title": "oat milk"}, 2)]},
                         tok("hal"), "dev-a")
    assert st == 200, (st, res)
    # B is told, A (the origin) and C are not
    assert (await w.recv_json(b))["type"] == "sync-available"
    assert await w.nothing(a, 0.4) and await w.nothing(c, 0.2)
    # B pulls and holds what the server holds
    st, _, res = request("GET", "/sync/todo/pull?collection=tasks", token=tok("hal"), client="dev-b")
    assert st == 200 and res["hasMore"] is False, (st, res)
    mine = [ch for ch in res["serverChanges"] if ch["id"] == "e2e-1"]
    assert len(mine) == 1 and mine[0]["data"]["title"] == "oat milk", mine
    row = w.psql("SELECT title, user_id, done FROM tasks WHERE id = 'e2e-1'")
    assert row == "oat milk|hal|f", row
    assert mine[0]["data"]["done"] is False and mine[0]["data"]["userId"] == "hal"
    # C sees none of it
    st, _, res = request("GET", "/sync/todo/pull?collection=tasks", token=tok("ida"))
    assert st == 200 and all(ch["id"] != "e2e-1" for ch in res["serverChanges"]), res
    cursor_b = request("GET", "/sync/todo/pull?collection=tasks", token=tok("hal"))[2]["syncedUntil"]

    # offline, A edits the title and B completes it; both push
    st_a = request("POST", "/sync/todo", {"changes": [update("e2e-1", {"title": "oat milk 2l"}, 10)]},
                   tok("hal"), "dev-a")[0]
    st_b = request("POST", "/sync/todo", {"changes": [update("e2e-1", {"done": True}, 11)]},
                   tok("hal"), "dev-b")[0]
    assert st_a == 200 and st_b == 200
    assert w.psql("SELECT title, done FROM tasks WHERE id = 'e2e-1'") == "oat milk 2l|t"
    # B's pull from its cursor brings A's edit merged with its own
    res = request("GET", "/sync/todo/pull?collection=tasks&since=" + cursor_b, token=tok("hal"))[2]
    mine = [ch for ch in res["serverChanges"] if ch["id"] == "e2e-1"]
    assert mine and mine[-1]["data"]["title"] == "oat milk 2l" and mine[-1]["data"]["done"] is True, mine

    # the same edit pushed twice changes nothing
    v0 = w.psql("SELECT version FROM tasks WHERE id = 'e2e-1'")
    body = {"changes": [update("e2e-1", {"done": True}, 11)]}
    assert request("POST", "/sync/todo", body, tok("hal"), "dev-b")[0] == 200
    assert w.psql("SELECT version FROM tasks WHERE id = 'e2e-1'") == v0
    for ws in (a, b, c):
        await ws.close()


async def t_http_errors_change_nothing():
    before = table_md5()
    good = {"changes": [insert("err-1", "x", 1)]}
    cases = [
        ("bad JSON", 400, ("POST", "/sync/todo", "{not json", tok("hal"), None, {"Content-Type": "application/json"})),
        ("bad changeset", 400, ("POST", "/sync/todo", {"changes": [{"table": "tasks", "op": "insert"}]}, tok("hal"), None, None)),
        ("not an object", 400, ("POST", "/sync/todo", [1, 2], tok("hal"), None, None)),
        ("unknown field", 400, ("POST", "/sync/todo", {"changes": [update("err-1", {"colour": "red"}, 1)]}, tok("hal"), None, None)),
        ("another user's row", 403, ("POST", "/sync/todo", {"changes": [update("e2e-1", {"title": "x"}, 99)]}, tok("ida"), None, None)),
        ("no token", 401, ("POST", "/sync/todo", good, None, None, None)),
        ("bad token", 401, ("POST", "/sync/todo", good, w.token("HS256", sub="hal", secret=b"wrong"), None, None)),
        ("expired token", 401, ("GET", "/sync/todo/pull?collection=tasks", None, w.token("HS256", sub="hal", exp=int(time.time()) - 999), None, None)),
        ("unknown route", 404, ("GET", "/sync/todo/nothing", None, tok("hal"), None, None)),
        ("unknown app", 404, ("POST", "/sync/nope", good, tok("hal"), None, None)),
        ("wrong method", 405, ("GET", "/sync/todo", None, tok("hal"), None, None)),
        ("wrong method on pull", 405, ("POST", "/sync/todo/pull?collection=tasks", good, tok("hal"), None, None)),
        ("not JSON", 415, ("POST", "/sync/todo", "x=1", tok("hal"), None, {"Content-Type": "application/x-www-form-urlencoded"})),
        ("no collection", 400, ("GET", "/sync/todo/pull", None, tok("hal"), None, None)),
        ("bad cursor", 400, ("GET", "/sync/todo/pull?collection=tasks&since=yesterday", None, tok("hal"), None, None)),
        ("unknown collection", 400, ("GET", "/sync/todo/pull?collection=nope", None, tok("hal"), None, None)),
        ("client id too long", 400, ("POST", "/sync/todo", good, tok("hal"), "c" * 200, None)),
    ]
    # the core's refusals carry its SQLSTATE (and "detail" is the DETAIL, never the code)
    core_states = {"unknown field": "42703", "another user's row": "42501", "unknown collection": "42P01"}
    for name, want, (method, path, body, token, client, headers) in cases:
        st, hdrs, res = request(method, path, body, token, client, headers)
        assert st == want, (name, st, res)
        assert hdrs.get("content-type", "").startswith("application/json"), (name, hdrs)
        assert isinstance(res, dict) and "error" in res, (name, res)
        if name in core_states:
            assert res.get("sqlstate") == core_states[name], (name, res)
            assert res.get("detail") != core_states[name], (name, res)
    assert table_md5() == before, "a refused request changed the table"

    # 413: a body over mana_sync.max_body
    w.psql("ALTER SYSTEM SET mana_sync.max_body = '4kB'", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    try:
        big = {"changes": [insert("big-%d" % i, "x" * 50, 1) for i in range(200)]}
        st, _, res = request("POST", "/sync/todo", big, tok("hal"))
        assert st == 413, (st, res)
    finally:
        w.psql("ALTER SYSTEM RESET mana_sync.max_body", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")
    assert table_md5() == before

    # 504: a statement that runs over mana_sync.statement_timeout (a row lock held elsewhere)
    w.psql("ALTER SYSTEM SET mana_sync.statement_timeout = '300ms'", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    holder = subprocess.Popen(["psql", "-qX", "-d", DB, "-c",
                               "BEGIN; SELECT 1 FROM tasks WHERE id = 'e2e-1' FOR UPDATE; SELECT pg_sleep(3); COMMIT;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        # new pool connections pick up the timeout; existing ones keep theirs until reconnected
        st, _, res = request("POST", "/sync/todo", {"changes": [update("e2e-1", {"title": "late"}, 200)]},
                             tok("hal"), "dev-a")
        assert st == 504, (st, res)
        assert res.get("sqlstate") == "57014", res
        assert table_md5() == before
    finally:
        holder.wait()
        w.psql("ALTER SYSTEM RESET mana_sync.statement_timeout", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")


async def t_http_cors_and_keepalive():
    w.psql("ALTER SYSTEM SET mana_sync.cors_origins = 'http://localhost:5173'", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    try:
        st, hdrs, _ = request("OPTIONS", "/sync/todo", headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-client-id"})
        assert st == 204, st
        assert hdrs.get("access-control-allow-origin") == "http://localhost:5173", hdrs
        assert "POST" in hdrs.get("access-control-allow-methods", "") and \
            "x-client-id" in hdrs.get("access-control-allow-headers", "").lower(), hdrs
        st, hdrs, _ = request("GET", "/sync/todo/pull?collection=tasks", token=tok("hal"),
                              headers={"Origin": "http://localhost:5173"})
        assert st == 200 and hdrs.get("access-control-allow-origin") == "http://localhost:5173", hdrs
        st, hdrs, _ = request("GET", "/sync/todo/pull?collection=tasks", token=tok("hal"),
                              headers={"Origin": "http://evil.example"})
        assert st == 200 and "access-control-allow-origin" not in hdrs, hdrs
    finally:
        w.psql("ALTER SYSTEM RESET mana_sync.cors_origins", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")
    # keep-alive: several requests, one connection, errors included
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    for i in range(5):
        st, _, res = request("GET", "/sync/todo/pull?collection=tasks", token=tok("hal"), conn=conn)
        assert st == 200, st
        st, _, _ = request("GET", "/sync/nope/pull?collection=tasks", token=tok("hal"), conn=conn)
        assert st == 404, st
    conn.close()
    conn.close()


def raw_request(data, pieces=1, delay=0.0, timeout=10):
    """send bytes on a fresh socket (in `pieces` parts, `delay` apart) and read
    until the server closes; returns (status, headers dict, body bytes, closed)"""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    step = max(1, -(-len(data) // pieces))
    try:
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
            if delay:
                time.sleep(delay)
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf = b""
    closed = False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            buf += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else None
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body, closed


def chunk_encode(body, size, ext=b"", trailer=b""):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x%s\r\n%s\r\n" % (len(part), ext, part)
    return out + b"0\r\n" + trailer + b"\r\n"


def post_head(extra, token):
    return ("POST /sync/todo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nX-Client-Id: dev-chunk\r\n%s\r\n" % (token, extra)).encode()


async def t_http_chunked_bodies():
    t = tok("hal")
    # http.client's chunked upload, three chunks: applied, then the connection closes
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    body = json.dumps({"changes": [insert("chunked-1", "in pieces", 5)]}).encode()
    conn.request("POST", "/sync/todo", body=iter([body[:10], body[10:30], body[30:]]), encode_chunked=True,
                 headers={"Authorization": "Bearer " + t, "Content-Type": "application/json"})
    r = conn.getresponse()
    res = json.loads(r.read())
    assert r.status == 200, (r.status, res)
    assert r.getheader("connection", "").lower() == "close", r.getheaders()
    assert "syncedUntil" in res, res
    conn.close()
    assert w.psql("SELECT title FROM tasks WHERE id = 'chunked-1'") == "in pieces"

    # extensions, a trailer, 7-byte chunks, sent in 25 pieces 20 ms apart
    body = json.dumps({"changes": [insert("chunked-2", "slowly chunked", 6)]}).encode()
    st, hdrs, rb, closed = raw_request(
        post_head("Transfer-Encoding: chunked\r\n", t) +
        chunk_encode(body, 7, b";x=1", b"X-Checksum: none\r\n"), pieces=25, delay=0.02)
    assert st == 200 and closed, (st, rb)
    assert w.psql("SELECT title FROM tasks WHERE id = 'chunked-2'") == "slowly chunked"

    # the same push again changes nothing
    before = table_md5()
    st, _, rb, _ = raw_request(post_head("Transfer-Encoding: chunked\r\n", t) + chunk_encode(body, 100))
    assert st == 200, (st, rb)
    assert table_md5() == before

    # refusals: each closes the connection and writes nothing
    bad_body = json.dumps({"changes": [insert("chunked-bad", "never", 7)]}).encode()
    good = chunk_encode(bad_body, 16)
    cases = [
        ("bare LF", post_head("Transfer-Encoding: chunked\r\n", t) + good.replace(b"\r\n", b"\n", 1), 400),
        ("size lies", post_head("Transfer-Encoding: chunked\r\n", t) + b"5\r\n" + bad_body + b"\r\n0\r\n\r\n", 400),
        ("not hex", post_head("Transfer-Encoding: chunked\r\n", t) + b"zz\r\n" + bad_body, 400),
        ("gzip", post_head("Transfer-Encoding: gzip, chunked\r\n", t) + good, 501),
        ("both framings", post_head("Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(good), t) + good, 400),
        ("no length", post_head("", t) + bad_body, 411),
        ("empty body", post_head("Transfer-Encoding: chunked\r\n", t) + b"0\r\n\r\n", 400),
        ("bad token", post_head("Transfer-Encoding: chunked\r\n", "x.y.z") + good, 401),
    ]
    for name, data, want in cases:
        st, hdrs, rb, closed = raw_request(data)
        assert st == want, (name, st, rb)
        assert closed, (name, "connection left open")
        assert hdrs.get("content-type", "").startswith("application/json") and b'"error"' in rb, (name, hdrs, rb)
    assert w.psql("SELECT count(*) FROM tasks WHERE id = 'chunked-bad'") == "0"

    # a request pipelined after a chunked body is not mistaken for body or served
    st, _, rb, closed = raw_request(post_head("Transfer-Encoding: chunked\r\n", t) + chunk_encode(bad_body, 50) +
                                    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert st == 200 and closed and rb.count(b"HTTP/1.1") == 0, (st, rb)
    assert w.psql("SELECT count(*) FROM tasks WHERE id = 'chunked-bad'") == "1"

    # over mana_sync.max_body: 413 before the body ends
    w.psql("ALTER SYSTEM SET mana_sync.max_body = '4kB'", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    try:
        big = json.dumps({"changes": [insert("chunked-big-%d" % i, "x" * 50, 1) for i in range(200)]}).encode()
        st, _, rb, closed = raw_request(post_head("Transfer-Encoding: chunked\r\n", t) + chunk_encode(big, 1000))
        assert st == 413 and closed, (st, rb)
    finally:
        w.psql("ALTER SYSTEM RESET mana_sync.max_body", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")
    assert w.psql("SELECT count(*) FROM tasks WHERE id LIKE 'chunked-big-%'") == "0"
    assert served_quickly()


def served_quickly():
    t = time.time()
    st, _, _ = request("GET", "/sync/todo/pull?collection=tasks", token=tok("hal"))
    return st == 200 and time.time() - t < 1.0


async def t_http_slow_and_idle_clients():
    # a request that never finishes its headers
    slow_headers = socket.create_connection(("127.0.0.1", PORT))
    slow_headers.sendall(b"GET /sync/todo/pull?collection=tasks HTTP/1.1\r\nHost: x\r\n")
    # a body sent one byte per 100 ms
    trickle = socket.create_connection(("127.0.0.1", PORT))
    body = json.dumps({"changes": [insert("trickle-1", "slow", 6)]}).encode()
    trickle.sendall(("POST /sync/todo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (tok("hal"), len(body))).encode())
    # 1,000 idle keep-alive connections
    idle = []
    for _ in range(1000):
        s = socket.create_connection(("127.0.0.1", PORT))
        idle.append(s)
    for i in range(30):
        trickle.sendall(body[i:i + 1])
        time.sleep(0.1)
        if i % 10 == 0:
            assert served_quickly(), "a request waited behind slow clients"
    trickle.sendall(body[30:])
    trickle.settimeout(10)
    reply = trickle.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 200"), reply[:80]
    assert w.psql("SELECT title FROM tasks WHERE id = 'trickle-1'") == "slow"
    assert served_quickly()
    # the worker drops the half-sent request after its timeout (10 s)
    slow_headers.settimeout(20)
    t = time.time()
    try:
        data = slow_headers.recv(100)
    except ConnectionResetError:
        data = b""
    assert time.time() - t < 20 and not data.startswith(b"HTTP/1.1 200"), data
    for s in idle:
        s.close()
    slow_headers.close()
    trickle.close()


async def t_http_request_timeout():
    """a body that does not arrive within mana_sync.request_timeout: 408, closed, nothing written"""
    w.psql("ALTER SYSTEM SET mana_sync.request_timeout = '1s'", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    try:
        before = table_md5()
        s = socket.create_connection(("127.0.0.1", PORT))
        body = json.dumps({"changes": [insert("too-slow", "x", 7)]}).encode()
        s.sendall(("POST /sync/todo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (tok("hal"), len(body))).encode())
        s.settimeout(0.2)
        reply = b""
        for i in range(40):     # one byte per 100 ms: 4 s for 40 bytes
            try:
                s.sendall(body[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                reply += s.recv(4096)
                if reply:
                    break
            except socket.timeout:
                pass
        assert reply.startswith(b"HTTP/1.1 408"), reply[:60]
        assert table_md5() == before
        assert served_quickly()
        s.close()
    finally:
        w.psql("ALTER SYSTEM RESET mana_sync.request_timeout", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")


async def t_http_queue_full():
    """more requests than one database's queue holds: 503 with Retry-After, the rest served"""
    import threading
    w.psql("ALTER SYSTEM SET mana_sync.http_pool_size = 1", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)
    holder = subprocess.Popen(["psql", "-qX", "-d", DB, "-c",
                               "BEGIN; SELECT 1 FROM tasks WHERE id = 'e2e-1' FOR UPDATE; SELECT pg_sleep(4); COMMIT;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    lock = threading.Lock()

    def one(i):
        try:
            st, hdrs, _ = request("POST", "/sync/todo", {"changes": [update("e2e-1", {"title": "q%d" % i}, 300 + i)]},
                                  tok("hal"))
        except Exception as e:  # noqa: BLE001
            st, hdrs = repr(e), {}
        with lock:
            results.append((st, hdrs.get("retry-after")))
    try:
        time.sleep(0.5)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(320)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        holder.wait()
        w.psql("ALTER SYSTEM RESET mana_sync.http_pool_size", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")
    busy = [r for r in results if r[0] == 503]
    ok = [r for r in results if r[0] == 200]
    print("    320 concurrent pushes, one pool connection, a row lock held 4 s: %d answered, %d got 503"
          % (len(ok), len(busy)))
    assert len(busy) > 0 and all(r[1] == "1" for r in busy), results[:5]
    assert len(ok) > 0 and len(ok) + len(busy) == 320, set(r[0] for r in results)


async def t_http_large_body():
    """a body far larger than a socket buffer reaches the database (the pool flushes it)"""
    changes = [insert("big-%05d" % i, "x" * 300, 20) for i in range(3000)]
    body = json.dumps({"changes": changes})
    assert len(body) > 1_000_000
    for _ in range(6):      # more than the pool has connections
        st, _, res = request("POST", "/sync/todo", {"changes": changes}, tok("jan"))
        assert st == 200, (st, res)
    assert w.psql("SELECT count(*) FROM tasks WHERE user_id = 'jan'") == "3000"
    assert served_quickly()


class Stream:
    """a Server-Sent Events reader over http.client"""

    def __init__(self, path, token, last_event_id=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
        h = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        if last_event_id:
            h["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=h)
        self.sock = self.conn.sock      # getresponse() lets go of it when the response ends with the connection
        self.resp = self.conn.getresponse()
        self.buf = b""

    def event(self, timeout=3.0):
        """the next event as a dict (id, event, data), skipping comments; None on timeout"""
        end = time.time() + timeout
        while True:
            while b"\n\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n\n", 1)
                ev = {}
                for line in raw.decode().split("\n"):
                    if line.startswith(":") or not line:
                        continue
                    k, _, v = line.partition(": ")
                    ev[k] = v
                if ev:
                    if "data" in ev:
                        ev["data"] = json.loads(ev["data"])
                    return ev
            if time.time() > end:
                return None
            self.sock.settimeout(max(0.05, end - time.time()))
            try:
                chunk = self.resp.read1(65536)
            except (socket.timeout, TimeoutError):
                return None
            except http.client.IncompleteRead:
                chunk = b""
            if not chunk:
                return {"closed": True}
            self.buf += chunk

    def close(self):
        self.resp.close()
        self.conn.close()
        self.sock.close()


async def t_http_stream():
    st = Stream("/sync/todo/stream?collections=tasks", tok("hal"))
    assert st.resp.status == 200, st.resp.status
    assert st.resp.getheader("Content-Type").startswith("text/event-stream")
    first = st.event()
    assert first and "id" in first and first["data"]["syncedUntil"] == first["id"], first
    known = {c["id"] for c in first["data"]["serverChanges"]}
    assert "e2e-1" in known, known      # hal's rows from the earlier tests
    # a write of the user arrives as one event, with a new cursor
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('sse-1', 'hal', 'streamed')")
    ev = st.event()
    assert ev and [c["id"] for c in ev["data"]["serverChanges"]] == ["sse-1"], ev
    assert ev["id"] != first["id"]
    # another user's write: nothing for hal
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('sse-ida', 'ida', 'not yours')")
    quiet = st.event(timeout=0.8)
    assert quiet is None, quiet
    last = ev["id"]
    st.close()
    # while disconnected
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('sse-2', 'hal', 'while away')")
    # resumed with Last-Event-ID: exactly what came after
    st = Stream("/sync/todo/stream?collections=tasks", tok("hal"), last_event_id=last)
    ev = st.event()
    assert ev and [c["id"] for c in ev["data"]["serverChanges"]] == ["sse-2"], ev
    st.close()
    # refusals
    assert request("GET", "/sync/todo/stream", token=tok("hal"))[0] == 400
    assert request("GET", "/sync/todo/stream?collections=tasks")[0] == 401
    assert request("GET", "/sync/nope/stream?collections=tasks", token=tok("hal"))[0] == 404
    st = Stream("/sync/todo/stream?collections=nope", tok("hal"))
    ev = st.event()
    assert ev and ev.get("event") == "error", ev
    assert st.event() == {"closed": True}
    st.close()


async def t_http_body_on_a_get_is_ignored():
    """a GET of a route that takes no body, sent with one: served as if it had none"""
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hb-1', 'alice', 'body on a get')")
    status, _, body = request("GET", "/sync/todo/pull?collection=tasks", body=b'{"x":1}', token=tok("alice"),
                              headers={"Content-Type": "application/json"})
    assert status == 200, (status, body)
    assert any(c["id"] == "hb-1" for c in body["serverChanges"]), body
    # and the connection still serves the next request
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    status, _, _ = request("GET", "/sync/todo/pull?collection=tasks", body=b"zz", token=tok("alice"), conn=conn)
    assert status == 200, status
    status, _, body = request("GET", "/health", conn=conn)
    assert status == 200 and body["status"] == "ok", (status, body)
    conn.close()


TESTS = [t_http_end_to_end, t_http_errors_change_nothing, t_http_cors_and_keepalive, t_http_chunked_bodies,
         t_http_slow_and_idle_clients,
         t_http_request_timeout, t_http_queue_full, t_http_stream, t_http_large_body,
         t_http_body_on_a_get_is_ignored]


def main():
    return w.run(TESTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
