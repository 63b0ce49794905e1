#!/usr/bin/python3
"""Faults (issue 5, part 3), run by scripts/test.sh against the preloaded
cluster before worker_test.py (same environment variables):

  * kill -9 of the push worker while writes go on: the cluster recovers,
    clients reconnect, and a pull from the cursor held before the crash
    delivers every committed write;
  * pg_ctl restart during HTTP pushes: each push committed fully or not at
    all, and retrying the failed ones leaves the rows a single push leaves;
  * the listener connection terminated (three times) while writes go on:
    a client that pulls only when told to still ends with the server's rows;
  * a disk-full error (a tablespace on a full tmpfs; where mount is not
    permitted, the same error raised by a trigger) and a statement timeout
    during mana_apply_changeset: nothing is partially applied.

Prints one line per test and "N passed, M failed"."""
import asyncio
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_test as w  # noqa: E402
import http_test as h  # noqa: E402

PGDATA = os.environ.get("MANA_PGDATA", "")
PGOSUSER = os.environ.get("MANA_PGOSUSER", "postgres")


def try_psql(sql, db=w.DB):
    """(ok, output or error): never raises"""
    r = subprocess.run(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", db],
                       input="\\set VERBOSITY verbose\n" + sql + "\n", capture_output=True, text=True)
    return r.returncode == 0, (r.stdout.strip() if r.returncode == 0 else r.stderr.strip())


def cluster_up(timeout=60):
    return w.wait_for(lambda: try_psql("SELECT 1", "postgres")[0], timeout, 0.25)


def worker_serving(timeout=30):
    def ok():
        st, body = w.http_get("/health")
        return st == 200 and json.loads(body)["databasesListened"] >= 1
    return w.wait_for(ok, timeout, 0.25)


def at_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def changeset(prefix, n, title, ms):
    return {"appId": "todo", "changes": [
        {"table": "tasks", "id": "%s-%d" % (prefix, k), "op": "insert",
         "data": {"title": "%s %d" % (title, k), "updatedAt": at_ms(ms)}} for k in range(n)]}


def apply_sql(user, cs):
    return try_psql("SELECT mana_apply_changeset($j$%s$j$, '%s') IS NOT NULL" % (json.dumps(cs), user))


def pull_all(user, since):
    """every change after since (pages followed): {id: row data}"""
    rows = {}
    cursor = since
    for _ in range(1000):
        q = "SELECT mana_pull('todo', 'tasks', %s, '%s')" % (
            "NULL" if cursor is None else "'%s'" % cursor, user)
        ok, out = try_psql(q)
        assert ok, out
        res = json.loads(out)
        for c in res["serverChanges"]:
            rows[c["id"]] = c.get("data")
        cursor = res["syncedUntil"]
        if not res.get("hasMore"):
            return rows, cursor
    raise AssertionError("pull never ended")


def server_rows(user, prefix=""):
    ok, out = try_psql("SELECT coalesce(json_object_agg(id, title), '{}') FROM tasks "
                       "WHERE user_id = '%s' AND id LIKE '%s%%' AND deleted_at IS NULL" % (user, prefix))
    assert ok, out
    return json.loads(out)


# ------------------------------------------------------------------ tests

async def t_worker_kill9_mid_traffic():
    user = "kill9"
    _, cursor = pull_all(user, None)
    committed, unknown = [], []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            cs = changeset("k9-%d" % i, 3, "w", int(time.time() * 1000))
            ok, _ = apply_sql(user, cs)
            (committed if ok else unknown).append(i)
            i += 1
            time.sleep(0.01)

    ws = await w.connect()
    assert (await w.auth(ws, w.token("HS256", sub=user)))["type"] == "auth-ok"
    th = threading.Thread(target=writer)
    th.start()
    try:
        await asyncio.sleep(1.0)
        old = w.worker_pid()
        n_before = len(committed)
        subprocess.run(["kill", "-9", str(old)], check=True)
        # the postmaster resets the cluster: every backend goes, then recovery
        closed = False
        t_kill = time.time()
        while not closed and time.time() - t_kill < 10:
            try:
                await asyncio.wait_for(ws.recv(), 10)   # hints of writes before the kill
            except asyncio.TimeoutError:
                break
            except Exception:  # noqa: BLE001 (closed or reset: either is right)
                closed = True
        assert closed, "the WebSocket survived the worker"
        assert cluster_up(60), "the cluster did not come back"
        t_back = time.time()
        assert w.wait_for(lambda: w.worker_pid() not in (0, old), 30), "no new worker"
        assert worker_serving(30), "the new worker does not serve"
        ws = await w.connect()
        assert (await w.auth(ws, w.token("HS256", sub=user)))["type"] == "auth-ok"
        # writes go on and the reconnected client hears of them
        hint = await w.recv_json(ws, 10)
        assert hint["type"] == "sync-available", hint
        print("    %d pushes committed before the kill; served again %.1fs after recovery"
              % (n_before, time.time() - t_back))
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        th.join()
        await ws.close()
    rows, _ = pull_all(user, cursor)
    # every committed push is delivered whole; a push whose outcome was
    # unknown (its connection died) is there whole or not at all
    for i in committed:
        for k in range(3):
            assert "k9-%d-%d" % (i, k) in rows, ("lost", i, k)
    for i in unknown:
        present = ["k9-%d-%d" % (i, k) in rows for k in range(3)]
        assert all(present) or not any(present), ("partial", i, present)
    assert set(rows) == set(server_rows(user, "k9-")), "the pull and the table disagree"
    print("    %d pushes committed, %d failed during the crash, %d rows pulled from the old cursor, 0 lost"
          % (len(committed), len(unknown), len(rows)))
    assert unknown, "the crash interrupted nothing: the test did not test"


async def t_restart_during_http_pushes():
    user = "restart"
    tok = h.tok(user)
    base_ms = int(time.time() * 1000) - 60000
    sets = [changeset("rs-%d" % i, 5, "v", base_ms + i) for i in range(80)]
    failed = []
    outcome = {}

    def pusher():
        for i, cs in enumerate(sets):
            try:
                st, _, _ = h.request("POST", "/sync/todo", cs, tok, "dev-r")
            except Exception:  # noqa: BLE001 (the server went away)
                st = None
            outcome[i] = st
            if st != 200:
                failed.append(i)
            time.sleep(0.02)

    th = threading.Thread(target=pusher)
    th.start()
    await asyncio.sleep(0.5)
    # -l: the new postmaster must not inherit our pipe (run() would wait for it)
    r = subprocess.run(["runuser", "-u", PGOSUSER, "--", "pg_ctl", "-D", PGDATA, "-m", "fast", "-w",
                        "-l", os.path.join(os.path.dirname(PGDATA), "log"), "restart"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
    th.join()
    assert cluster_up(60)
    assert worker_serving(30)
    # all or nothing per push
    rows = server_rows(user, "rs-")
    for i in range(len(sets)):
        present = ["rs-%d-%d" % (i, k) in rows for k in range(5)]
        assert all(present) or not any(present), ("partial push", i, present)
        if outcome.get(i) == 200:
            assert all(present), ("answered 200 but missing", i)
    n_failed = len(failed)
    assert n_failed > 0, "the restart interrupted nothing: the test did not test"
    # the client retries what failed
    for i in failed:
        st, _, res = h.request("POST", "/sync/todo", sets[i], tok, "dev-r")
        assert st == 200, (i, st, res)
    ok, md5_after_retry = try_psql("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tasks t "
                                   "WHERE user_id = '%s'" % user)
    assert ok
    rows = server_rows(user, "rs-")
    assert len(rows) == 5 * len(sets), len(rows)
    for i in range(len(sets)):
        for k in range(5):
            assert rows["rs-%d-%d" % (i, k)] == "v %d" % k
    # the same rows as single pushes: every row written once (version 1), and
    # pushing everything once more changes nothing
    ok, versions = try_psql("SELECT string_agg(DISTINCT version::text, ',') FROM tasks WHERE user_id = '%s'" % user)
    assert ok and versions == "1", versions
    for cs in sets:
        st, _, _ = h.request("POST", "/sync/todo", cs, tok, "dev-r")
        assert st == 200
    ok, md5_again = try_psql("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tasks t "
                             "WHERE user_id = '%s'" % user)
    assert ok and md5_again == md5_after_retry
    print("    %d pushes of 5 rows, %d failed by the restart (none partial), retried: %d rows, all version 1"
          % (len(sets), n_failed, len(rows)))


async def t_listener_terminated_converges():
    user = "listener"
    replica = {}
    cursor = [None]
    stop = threading.Event()
    wrote = [0]

    def writer():
        i = 0
        while not stop.is_set():
            ms = int(time.time() * 1000)
            ok, out = apply_sql(user, {"appId": "todo", "changes": [
                {"table": "tasks", "id": "ln-%d" % (i % 40), "op": "update",
                 "fields": {"title": {"value": "t%d" % i, "at": at_ms(ms)}}}]})
            assert ok, out
            wrote[0] += 1
            i += 1
            time.sleep(0.01)

    def pull_into_replica():
        rows, cursor[0] = pull_all(user, cursor[0])
        replica.update({k: v["title"] for k, v in rows.items() if v is not None})

    ws = await w.connect()
    assert (await w.auth(ws, w.token("HS256", sub=user)))["type"] == "auth-ok"
    pull_into_replica()
    th = threading.Thread(target=writer)
    th.start()
    hints = 0
    before = int(w.psql("SELECT listener_reconnects FROM mana_sync_worker_stats()"))
    try:
        t_end = time.time() + 4
        next_kill = time.time() + 0.5
        kills = 0
        while time.time() < t_end:
            if kills < 3 and time.time() >= next_kill:
                w.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = 'mana_sync push worker' AND datname = '%s'" % w.DB)
                kills += 1
                next_kill = time.time() + 1.0
            try:
                msg = await w.recv_json(ws, 0.2)
                assert msg["type"] == "sync-available", msg
                hints += 1
                await asyncio.to_thread(pull_into_replica)
            except asyncio.TimeoutError:
                pass
    finally:
        stop.set()
        th.join()
    # the last write's hint, then nothing more to learn
    while True:
        try:
            msg = await w.recv_json(ws, 2)
            hints += 1
            await asyncio.to_thread(pull_into_replica)
        except asyncio.TimeoutError:
            break
    await ws.close()
    server = server_rows(user, "ln-")
    reconnects = int(w.psql("SELECT listener_reconnects FROM mana_sync_worker_stats()")) - before
    diverged = [k for k in set(server) | set(replica) if server.get(k) != replica.get(k)]
    print("    %d writes, listener terminated 3 times (%d reconnects), %d hints, %d pulls-driven rows, %d diverged"
          % (wrote[0], reconnects, hints, len(replica), len(diverged)))
    assert reconnects >= 3, reconnects
    assert not diverged, diverged[:5]


def mount_full_tmpfs(path, size_kb):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk,mode=0700" % size_kb, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False
    subprocess.run(["chown", PGOSUSER, path], check=True)
    return True


async def t_disk_full_and_timeout_atomic():
    # statement timeout in the middle of a big changeset
    user = "atomic"
    ok, out = apply_sql(user, changeset("at-seed", 50, "seed", int(time.time() * 1000) - 5000))
    assert ok, out
    ok, before = try_psql("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tasks t")
    big = changeset("at-big", 10000, "big", int(time.time() * 1000))
    # and updates of the existing rows, so that a partial apply would show
    big["changes"] += [{"table": "tasks", "id": "at-seed-%d" % k, "op": "update",
                        "fields": {"title": {"value": "changed", "at": at_ms(int(time.time() * 1000))}}}
                       for k in range(50)]
    w.psql("ALTER SYSTEM SET mana_sync.max_changes = 100000", db="postgres")
    w.psql("SELECT pg_reload_conf()", db="postgres")
    try:
        # the changeset's 10,000 inserts into tasks are written first, then
        # its update of a row of `gate` waits for a lock held elsewhere until
        # the statement timeout: the rows already written must go
        ok, out = try_psql("CREATE TABLE gate (id text PRIMARY KEY, user_id text NOT NULL, title text);"
                           "SELECT mana_sync_enable('gate', 'todo') IS NOT NULL;"
                           "INSERT INTO gate VALUES ('g1', 'atomic', 'closed')")
        assert ok, out
        big["changes"].append({"table": "gate", "id": "g1", "op": "update",
                               "fields": {"title": {"value": "open", "at": at_ms(int(time.time() * 1000))}}})
        holder = subprocess.Popen(["psql", "-qX", "-d", w.DB, "-c",
                                   "BEGIN; SELECT 1 FROM gate WHERE id = 'g1' FOR UPDATE; SELECT pg_sleep(7); COMMIT;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            ins0 = int(w.psql("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'tasks'"))
            t0 = time.time()
            ok, err = try_psql("SET statement_timeout = '4s';\n"
                               "SELECT mana_apply_changeset($j$%s$j$, '%s') IS NOT NULL" % (json.dumps(big), user))
            took = time.time() - t0
            assert not ok and "57014" in err, err[:300]
        finally:
            holder.wait()
        ok, after = try_psql("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tasks t")
        assert after == before, "a timed-out changeset changed the table"
        assert w.psql("SELECT title FROM gate WHERE id = 'g1'") == "closed"
        # the statistics count rows inserted by aborted transactions too
        assert w.wait_for(lambda: int(w.psql("SELECT n_tup_ins FROM pg_stat_user_tables "
                                             "WHERE relname = 'tasks'")) - ins0 >= 10000, 5), \
            "the timeout came before the rows were written: the test did not test"
        print("    statement timeout after %.1fs, 10,000 rows written and then waiting on a lock: "
              "57014, tables unchanged" % took)
        try_psql("DROP TABLE gate")

        # disk full: the synced table in a tablespace on a tmpfs that fills up
        path = "/tmp/mana-fault-tblspc"
        real = mount_full_tmpfs(path, 1024)
        try:
            if real:
                ok, out = try_psql("CREATE TABLESPACE fault_small LOCATION '%s'" % path, "postgres")
                assert ok, out
                ok, out = try_psql(
                    "CREATE TABLE notes (id text PRIMARY KEY, user_id text NOT NULL, body text) TABLESPACE fault_small;"
                    "SELECT mana_sync_enable('notes', 'todo') IS NOT NULL")
                assert ok, out
                # fill it: batches of rows until one does not fit, then single rows
                n = 0
                for size in (100, 1):
                    for _ in range(2000):
                        ok, out = try_psql("INSERT INTO notes SELECT 'fill-' || g, 'atomic', repeat('x', 200) "
                                           "FROM generate_series(%d, %d) g" % (n + 1, n + size))
                        if not ok:
                            break
                        n += size
                    assert not ok and "53100" in out, out[:300]
                assert n > 100, n
                how = "a 1 MB tmpfs tablespace holding %d rows" % n
            else:
                # mount not permitted: the same SQLSTATE from a trigger on the 500th row
                ok, out = try_psql(
                    "CREATE TABLE notes (id text PRIMARY KEY, user_id text NOT NULL, body text);"
                    "SELECT mana_sync_enable('notes', 'todo') IS NOT NULL;"
                    "INSERT INTO notes SELECT 'fill-' || g, 'atomic', 'x' FROM generate_series(1, 100) g;"
                    "CREATE FUNCTION fault_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF (SELECT count(*) FROM notes) >= 600 THEN RAISE EXCEPTION 'could not extend file' "
                    "USING ERRCODE = 'disk_full'; END IF; RETURN NEW; END $$;"
                    "CREATE TRIGGER fault_disk_full BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION fault_disk_full()")
                assert ok, out
                how = "an injected 53100 (mount not permitted here)"
            ok, before = try_psql("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM notes t")
            now = int(time.time() * 1000)
            cs = {"appId": "todo", "changes":
                  [{"table": "notes", "id": "fill-%d" % k, "op": "update",
                    "fields": {"body": {"value": "y" * 300, "at": at_ms(now)}}} for k in range(1, 50)] +
                  [{"table": "notes", "id": "new-%d" % k, "op": "insert",
                    "data": {"body": "z" * 300, "updatedAt": at_ms(now)}} for k in range(2000)]}
            ok, err = apply_sql("atomic", cs)
            assert not ok and "53100" in err, err[:300]
            ok, after = try_psql("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM notes t")
            assert ok and after == before, "a changeset that hit disk full changed the table"
            ok, n = try_psql("SELECT count(*) FROM notes WHERE id LIKE 'new-%'")
            assert n == "0", n
            print("    disk full (%s): 53100, table unchanged" % how)
        finally:
            try_psql("DROP TABLE IF EXISTS notes; DROP FUNCTION IF EXISTS fault_disk_full()")
            if real:
                try_psql("DROP TABLESPACE IF EXISTS fault_small", "postgres")
                subprocess.run(["umount", path])
    finally:
        w.psql("ALTER SYSTEM RESET mana_sync.max_changes", db="postgres")
        w.psql("SELECT pg_reload_conf()", db="postgres")


TESTS = [t_disk_full_and_timeout_atomic, t_listener_terminated_converges, t_worker_kill9_mid_traffic,
         t_restart_during_http_pushes]


def main():
    return w.run(TESTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
