#!/usr/bin/python3
"""Hostile clients against the push worker (issue 5, part 4), run by
scripts/test.sh against the preloaded cluster (same environment variables
as worker_test.py).  Each test checks the documented refusal, that other
clients are served meanwhile, and that the worker's memory returns to its
baseline.  Prints one line per test and "N passed, M failed"."""
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_test as w  # noqa: E402
import http_test as h  # noqa: E402
from rawws import RawWS, frame, TEXT, CONT, PING, BINARY  # noqa: E402

PORT = w.HTTP_PORT


def set_conf(name, value):
    if value is None:
        w.psql("ALTER SYSTEM RESET %s" % name, db="postgres")
    else:
        w.psql("ALTER SYSTEM SET %s = '%s'" % (name, value), db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    time.sleep(0.5)


def stat(col):
    return int(w.psql("SELECT %s FROM mana_sync_worker_stats()" % col))


def health_connections():
    return json.loads(w.http_get("/health")[1])["connections"]


class Probe:
    """A well-behaved user served while the hostile traffic goes on: an
    authenticated WebSocket that must hear of each change (sync-available)
    and a keep-alive HTTP connection whose pulls must succeed."""

    def __init__(self, user):
        self.user = user
        self.rounds = 0
        self.failures = []
        self.worst = 0.0

    async def start(self):
        self.ws = await w.connect()
        assert (await w.auth(self.ws, w.token("HS256", sub=self.user)))["type"] == "auth-ok"
        self.conn = h.http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)

    async def one_round(self):
        t0 = time.time()
        try:
            # a field time in ms that grows every round (equal times would
            # be settled by the tie-break on the value, and could lose)
            self.at = max(getattr(self, "at", 0) + 1, int(time.time() * 1000))
            at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.at // 1000)) + ".%03dZ" % (self.at % 1000)
            await asyncio.to_thread(w.apply, self.user, "probe-other", "probe-" + self.user,
                                    "round %d" % self.rounds, at)
            msg = await w.recv_json(self.ws, 5)
            assert msg["type"] == "sync-available", msg
            st, _, res = await asyncio.to_thread(h.request, "GET", "/sync/todo/pull?collection=tasks",
                                                 None, h.tok(self.user), None, None, self.conn)
            assert st == 200 and any(c["id"] == "probe-" + self.user for c in res["serverChanges"]), (st, res)
        except Exception as e:  # noqa: BLE001 (recorded, asserted by the test)
            self.failures.append("round %d after %.1fs: %r" % (self.rounds, time.time() - t0, e))
            # a real client reconnects; a fresh HTTP connection for the next round
            self.conn.close()
            self.conn = h.http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        self.worst = max(self.worst, time.time() - t0)
        self.rounds += 1

    async def run_while(self, task, period=0.3):
        """probe rounds until task is done; returns task's result"""
        while not task.done():
            await self.one_round()
            await asyncio.sleep(period)
        await self.one_round()
        return task.result()

    def check(self, what):
        print("    probe during %s: %d rounds, %d failed, slowest %.0f ms"
              % (what, self.rounds, len(self.failures), self.worst * 1000))
        assert not self.failures, self.failures[:3]
        assert self.rounds >= 2, self.rounds

    async def stop(self):
        await self.ws.close()
        self.conn.close()


def check_memory(base, slack_kb, what=""):
    """the worker's RSS is back within slack_kb of base (waiting for it)"""
    rss = rss_settled(base, slack_kb)
    print("    %sworker RSS %d kB -> %d kB" % (what, base, rss))
    assert rss - base <= slack_kb, "worker memory grew by %d kB" % (rss - base)


def rss_settled(base, slack_kb, timeout=10):
    """wait until the worker's RSS is within slack of base; returns it"""
    end = time.time() + timeout
    rss = w.worker_rss_kb()
    while rss - base > slack_kb and time.time() < end:
        time.sleep(0.25)
        rss = w.worker_rss_kb()
    return rss


# ------------------------------------------------------------------ tests

async def t_burst_20000_connections():
    """20,000 WebSocket connection attempts in one burst, over
    mana_sync.max_connections = 2000 (less if the file limits are lower):
    each is answered, 101 or 503"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # 2,000 held at most, fewer where the worker may open fewer files
    with open("/proc/%d/limits" % w.worker_pid()) as f:
        wlimit = int(next(line for line in f if line.startswith("Max open files")).split()[3])
    max_conns = max(100, min(2000, wlimit - 300, hard // 2 - 300))
    set_conf("mana_sync.max_connections", max_conns)
    probe = Probe("burst-probe")
    try:
        await probe.start()
        base = w.worker_rss_kb()
        refused0 = stat("connections_refused")
        results = {}
        held = []
        sem = asyncio.Semaphore(min(3000, hard // 4))

        async def attempt():
            async with sem:
                try:
                    c = await RawWS.open(PORT, timeout=60)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                    results[type(e).__name__] = results.get(type(e).__name__, 0) + 1
                    return
                results[c.status] = results.get(c.status, 0) + 1
                if c.status == 101:
                    held.append(c)      # closed by the auth timeout, or at the end
                else:
                    c.close()

        t0 = time.time()
        burst = asyncio.ensure_future(asyncio.gather(*[attempt() for _ in range(20000)]))
        await probe.run_while(burst)
        took = time.time() - t0
        for c in held:
            c.close()
        refused = stat("connections_refused") - refused0
        print("    20,000 attempts in %.1fs, max_connections %d: %s; refused counted %d"
              % (took, max_conns, results, refused))
        assert sum(results.values()) == 20000
        assert set(results) <= {101, 503}, results
        assert results.get(503, 0) > 0 and results.get(101, 0) >= max_conns, results
        assert refused == results[503], (refused, results)
        probe.check("the burst")
        assert w.wait_for(lambda: health_connections() <= 1, 15)
        check_memory(base, 4096)
    finally:
        await probe.stop()
        set_conf("mana_sync.max_connections", None)


async def slow_sender(data, delay, stop):
    """send data a byte at a time, delay apart, until the server closes the
    connection (returns seconds until then) or stop is set (returns None)"""
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    t0 = time.time()
    try:
        for b in data:
            if stop.is_set():
                return None
            writer.write(bytes([b]))
            await writer.drain()
            try:
                got = await asyncio.wait_for(reader.read(4096), delay)
                if got == b"" or got:
                    # answered or closed: read to the end
                    while got:
                        got = await asyncio.wait_for(reader.read(4096), 5)
                    return time.time() - t0
            except asyncio.TimeoutError:
                pass
        return None
    except (ConnectionResetError, BrokenPipeError):
        return time.time() - t0
    finally:
        writer.close()


async def t_slowloris():
    """200 HTTP requests whose headers come a byte per 200 ms, 100 whose
    body does, 100 WebSocket handshakes likewise, 100 auth frames that
    stop after 4 bytes: all
    are cut off (HTTP after lws's 10 s timeout or mana_sync.request_timeout,
    WebSockets after mana_sync.auth_timeout), others are served meanwhile"""
    set_conf("mana_sync.request_timeout", "3s")
    probe = Probe("slow-probe")
    try:
        await probe.start()
        base = w.worker_rss_kb()
        stop = asyncio.Event()
        http_head = b"GET /sync/todo/pull?collection=tasks HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 400
        body = json.dumps({"changes": []}).encode()
        http_body = (b"POST /sync/todo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + h.tok("slow").encode() +
                     b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 400)) + body + b" " * 400
        from rawws import handshake
        ws_head = handshake() + b"x" * 0
        jobs = [slow_sender(http_head, 0.2, stop) for _ in range(200)]
        jobs += [slow_sender(http_body, 0.2, stop) for _ in range(100)]
        jobs += [slow_sender(ws_head[:-2] + b"X-Pad: " + b"a" * 400 + b"\r\n\r\n", 0.2, stop) for _ in range(100)]

        async def slow_auth():
            c = await RawWS.open(PORT)
            assert c.status == 101
            t0 = time.time()
            f = frame(TEXT, json.dumps({"type": "auth", "token": w.token("HS256", sub="slow")}))
            try:
                # the frame's first bytes over 0.8 s, then nothing: it never ends
                for b in f[:4]:
                    c.writer.write(bytes([b]))
                    await c.writer.drain()
                    await asyncio.sleep(0.2)
                code = await c.close_code(5)
            except (ConnectionResetError, BrokenPipeError):
                code = None
            c.close()
            return code, time.time() - t0
        jobs += [slow_auth() for _ in range(100)]
        task = asyncio.ensure_future(asyncio.gather(*jobs))
        res = await probe.run_while(task)
        http_cut = [r for r in res[:300] if r is not None]
        ws_cut = [r for r in res[300:400] if r is not None]
        auth_codes = [r[0] for r in res[400:]]
        print("    HTTP headers cut after %.1f-%.1fs, HTTP bodies after %.1f-%.1fs, WS handshakes after %.1f-%.1fs"
              % (min(res[:200]), max(res[:200]), min(res[200:300]), max(res[200:300]),
                 min(ws_cut), max(ws_cut)))
        print("    slow auth frames: close codes %s after up to %.1fs" % (sorted(set(auth_codes)), max(r[1] for r in res[400:])))
        assert len(http_cut) == 300 and len(ws_cut) == 100, (len(http_cut), len(ws_cut))
        assert max(res[:200]) < 15 and max(res[200:300]) < 15 and max(ws_cut) < 15
        assert set(auth_codes) == {1008}, auth_codes
        probe.check("slowloris")
        assert w.wait_for(lambda: health_connections() <= 1, 15)
        check_memory(base, 2048)
    finally:
        await probe.stop()
        set_conf("mana_sync.request_timeout", None)


async def t_bad_frames():
    """each malformed or oversized frame gets its close code; others are served"""
    tok = w.token("HS256", sub="frames")
    auth = json.dumps({"type": "auth", "token": tok}).encode()
    big = 8000
    cases = [
        # (name, frames, expected close code; -1: stays open and works)
        ("auth in three fragments with a ping between", [frame(TEXT, auth[:10], fin=False), frame(PING, b"hi"),
                                                         frame(CONT, auth[10:40], fin=False), frame(CONT, auth[40:])], -1),
        ("invalid UTF-8", [frame(TEXT, b'{"type":"auth","token":"\xff\xfe"}')], 1007),
        ("invalid UTF-8 split across fragments", [frame(TEXT, b'{"type":"\xe2\x82', fin=False),
                                                  frame(CONT, b'x"}')], 1007),
        ("continuation without a start", [frame(CONT, b"abc")], 1002),
        ("reserved bits", [frame(TEXT, b'{"type":"ping"}', rsv=2)], 1002),
        ("reserved opcode", [frame(3, b"x")], 1002),
        ("fragmented control frame", [frame(PING, b"x", fin=False)], 1002),
        ("a new message inside a fragmented one", [frame(TEXT, b"ab", fin=False), frame(TEXT, b"cd")], 1002),
        ("one frame over 16 KB", [frame(TEXT, b"x" * 20000)], 1009),
        ("fragments adding up over 16 KB", [frame(TEXT, b"x" * big, fin=False), frame(CONT, b"x" * big, fin=False),
                                           frame(CONT, b"x" * big)], 1009),
        ("a 1 MB token", [frame(TEXT, json.dumps({"type": "auth", "token": "a" * (1 << 20)}))], 1009),
        ("a binary frame", [frame(BINARY, b"\x00\x01")], 1003),
        ("an unknown message type", [frame(TEXT, b'{"type":"bogus"}')], 1008),
        ("not JSON", [frame(TEXT, b"{{{")], 1008),
    ]
    probe = Probe("frames-probe")
    await probe.start()
    base = w.worker_rss_kb()
    try:
        for _round in range(3):
            for name, frames, want in cases:
                c = await RawWS.open(PORT)
                assert c.status == 101
                for f in frames:
                    await c.send(f)
                code = await c.close_code(2 if want == -1 else 5)
                if want == -1:
                    assert code == -1 and c.texts == ['{"type":"auth-ok"}'], (name, code, c.texts)
                else:
                    assert code == want, (name, code, want, c.texts)
                c.close()
            await probe.one_round()
        probe.check("bad frames")
        check_memory(base, 2048, "%d cases x 3; " % len(cases))
    finally:
        await probe.stop()


async def t_oversized_http():
    """a 1 MB token and a 1 MB header over HTTP: the connection is dropped
    unanswered (lws's header space, 16 KB); a token over 8 KB that fits is a 401"""
    for size in (1 << 20, 70000):
        st, _, _, closed = h.raw_request(("GET /sync/todo/pull?collection=tasks HTTP/1.1\r\nHost: x\r\n"
                                          "Authorization: Bearer %s\r\n\r\n" % ("a" * size)).encode())
        assert st is None and closed, (size, st)
    st, _, body, _ = h.raw_request(("GET /sync/todo/pull?collection=tasks HTTP/1.1\r\nHost: x\r\n"
                                    "Authorization: Bearer %s\r\nConnection: close\r\n\r\n" % ("a" * 9000)).encode())
    assert st == 401, (st, body)
    assert h.served_quickly()


def big_changeset(n_changes, n_fields):
    at = "2026-01-01T00:00:00.000Z"
    return {"changes": [{"table": "tasks", "id": "huge-%d" % i, "op": "update",
                         "fields": {("f%d" % k if k else "title"): {"value": "v", "at": at} for k in range(n_fields)}}
                        for i in range(n_changes)]}


async def t_huge_changesets():
    """100,000 changes and 10,000 fields: refused (54000 in SQL, 413 over
    HTTP), nothing written, the worker's memory back to its baseline"""
    probe = Probe("huge-probe")
    await probe.start()
    # a body this big passes mana_sync.max_body (raised here) so that the
    # core's limits answer; over max_body the worker refuses before reading
    # (http_test.py)
    set_conf("mana_sync.max_body", "32MB")
    base = w.worker_rss_kb()
    try:
        for name, cs in (("100,000 changes", big_changeset(100000, 1)),
                         ("10,000 fields", big_changeset(1, 10000))):
            body = json.dumps(cs)
            # SQL: the core's limit
            r = subprocess.run(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", w.DB],
                               input="\\set VERBOSITY verbose\nSELECT mana_apply_changeset($j$%s$j$::jsonb || "
                                     "'{\"appId\":\"todo\"}', 'huge') IS NOT NULL;\n" % body,
                               capture_output=True, text=True)
            assert r.returncode != 0 and "ERROR:  54000:" in r.stderr, (name, r.stderr[:300])
            # HTTP, while the probe is served
            task = asyncio.ensure_future(asyncio.to_thread(h.request, "POST", "/sync/todo", body.encode(),
                                                           h.tok("huge"), None,
                                                           {"Content-Type": "application/json"}))
            st, _, res = await probe.run_while(task, 0.1)
            print("    %s (%d bytes): HTTP %d %s" % (name, len(body), st, res))
            assert st == 413, (name, st, res)
            assert isinstance(res, dict) and res.get("sqlstate") == "54000", (name, res)
        assert w.psql("SELECT count(*) FROM tasks WHERE id LIKE 'huge-%'") == "0"
        probe.check("huge changesets")
        check_memory(base, 4096)
    finally:
        await probe.stop()
        set_conf("mana_sync.max_body", None)


TESTS = [t_burst_20000_connections, t_slowloris, t_bad_frames, t_oversized_http, t_huge_changesets]


def main():
    return w.run(TESTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
