#!/usr/bin/python3
"""mana_sync.notify_mode = commit_hook (issue 7): hints reach the worker
through shared memory at commit, not NOTIFY.  Run by scripts/test.sh
against the preloaded cluster (max_prepared_transactions > 0) in its
default mode, commit_hook:

  * a commit is hinted through the ring, not NOTIFY; notify mode (set per
    session) still works and external LISTENers hear it;
  * an aborted transaction sends nothing;
  * two-phase commit: nothing at PREPARE, the hint at COMMIT PREPARED,
    nothing after ROLLBACK PREPARED;
  * a full ring loses nothing silently: with the worker stopped (SIGSTOP)
    commits overflow it, and when it resumes every client of the app is
    told to pull;
  * under a burst the worker polls instead of being woken per commit, no
    client misses its hint, and afterwards a commit wakes it at once.

Prints one line per test and "N passed, M failed"."""
import asyncio
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_test as w  # noqa: E402


def stats(*cols):
    return [int(x) for x in w.psql("SELECT %s FROM mana_sync_worker_stats()" % ", ".join(cols)).split("|")]


async def listener(user):
    ws = await w.connect("/ws/todo")
    assert (await w.auth(ws, w.token("HS256", sub=user)))["type"] == "auth-ok"
    return ws


async def t_commit_hook_is_the_default():
    assert w.psql("SHOW mana_sync.notify_mode") == "commit_hook"
    ws = await listener("hk-a")
    ring0, notif0 = stats("ring_hints", "notifications_received")
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hk-1', 'hk-a', 'x')")
    msg = await w.recv_json(ws)
    assert msg == {"type": "sync-available", "appId": "todo", "tables": ["tasks"]}, msg
    ring1, notif1 = stats("ring_hints", "notifications_received")
    assert ring1 == ring0 + 1 and notif1 == notif0, (ring0, ring1, notif0, notif1)
    # one transaction, many rows of one user: one hint
    w.psql("BEGIN; INSERT INTO tasks (id, user_id, title) SELECT 'hk-m' || g, 'hk-a', 'm' "
           "FROM generate_series(1, 500) g; UPDATE tasks SET title = 'y' WHERE id = 'hk-1'; COMMIT;")
    assert (await w.recv_json(ws))["type"] == "sync-available"
    assert await w.nothing(ws, 0.5)
    assert stats("ring_hints")[0] == ring1 + 1
    await ws.close()


async def t_notify_mode_per_session():
    ws = await listener("hk-b")
    ring0, notif0 = stats("ring_hints", "notifications_received")
    # an outside program listening on the channel hears notify mode only
    lst = subprocess.Popen(["psql", "-qXAt", "-d", w.DB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    lst.stdin.write("LISTEN mana_sync;\n")
    lst.stdin.flush()
    time.sleep(0.3)
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hk-2', 'hk-b', 'x')",
           options="-c mana_sync.notify_mode=notify")
    assert (await w.recv_json(ws))["type"] == "sync-available"
    ring1, notif1 = stats("ring_hints", "notifications_received")
    assert ring1 == ring0 and notif1 == notif0 + 1, (ring0, ring1, notif0, notif1)
    out, _ = lst.communicate("SELECT 1;\n", timeout=10)
    assert '"owner":"hk-b"' in out, out
    await ws.close()


async def t_abort_sends_nothing():
    ws = await listener("hk-c")
    ring0 = stats("ring_hints")[0]
    w.psql("BEGIN; INSERT INTO tasks (id, user_id, title) VALUES ('hk-3', 'hk-c', 'x'); ROLLBACK;")
    r = subprocess.run(["psql", "-qXAt", "-d", w.DB, "-c",
                        "BEGIN; INSERT INTO tasks (id, user_id, title) VALUES ('hk-4', 'hk-c', 'x'); SELECT 1/0; COMMIT;"],
                       capture_output=True, text=True)
    assert r.returncode != 0        # an error aborts the transaction after the row was written
    assert await w.nothing(ws, 1.0)
    assert stats("ring_hints")[0] == ring0
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hk-5', 'hk-c', 'x')")
    assert (await w.recv_json(ws))["type"] == "sync-available"
    await ws.close()


async def t_two_phase_commit():
    ws = await listener("hk-d")
    w.psql("BEGIN; INSERT INTO tasks (id, user_id, title) VALUES ('hk-6', 'hk-d', 'x'); PREPARE TRANSACTION 'hk_p1';")
    assert await w.nothing(ws, 1.0), "hinted before the prepared transaction committed"
    w.psql("COMMIT PREPARED 'hk_p1'")
    msg = await w.recv_json(ws, 3)
    assert msg["type"] == "sync-available", msg
    # and a prepared transaction rolled back: nothing
    w.psql("BEGIN; INSERT INTO tasks (id, user_id, title) VALUES ('hk-7', 'hk-d', 'x'); PREPARE TRANSACTION 'hk_p2';")
    w.psql("ROLLBACK PREPARED 'hk_p2'")
    assert await w.nothing(ws, 1.0)
    assert w.psql("SELECT count(*) FROM tasks WHERE id IN ('hk-6', 'hk-7')") == "1"
    await ws.close()


async def t_ring_overflow_tells_everyone():
    bystander = await listener("hk-e")        # writes nothing: hears only a broadcast
    writer = await listener("hk-f")
    over0 = stats("ring_overflows")[0]
    pid = w.worker_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        # 6,000 commits of distinct long owners: more than the 1 MB ring holds
        w.psql("CREATE OR REPLACE PROCEDURE hk_flood() LANGUAGE plpgsql AS $$ BEGIN "
               "FOR i IN 1..6000 LOOP INSERT INTO tasks (id, user_id, title) "
               "VALUES ('hk-flood-' || i, 'hk-f-' || repeat('u', 200) || i, 'x'); COMMIT; END LOOP; END $$")
        t0 = time.time()
        w.psql("CALL hk_flood()")
        took = time.time() - t0
        w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hk-8', 'hk-f', 'last')")
    finally:
        os.kill(pid, signal.SIGCONT)
    over1 = stats("ring_overflows")[0]
    assert over1 > over0, "the ring never overflowed: the test did not test"
    # the bystander is told to pull, though none of its rows changed
    msg = await w.recv_json(bystander, 5)
    assert msg == {"type": "sync-available", "appId": "todo", "tables": ["tasks"]}, msg
    msg = await w.recv_json(writer, 5)
    assert msg["type"] == "sync-available", msg
    print("    6,000 commits in %.1fs with the worker stopped: %d overflowed; every client told to pull"
          % (took, over1 - over0))
    # and hints flow normally again
    while True:
        try:
            await w.recv_json(writer, 0.5)
        except asyncio.TimeoutError:
            break
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hk-9', 'hk-f', 'again')")
    assert (await w.recv_json(writer))["type"] == "sync-available"
    w.psql("DELETE FROM tasks WHERE id LIKE 'hk-flood-%'", options="-c mana_sync.hard_delete=on")
    await bystander.close()
    await writer.close()


async def t_busy_worker_polls():
    """over 1,000 hints a second the worker polls the ring every millisecond
    instead of being woken by each commit; every client still hears of its
    rows, and once the burst is over a commit wakes the worker at once"""
    users = ["hk-busy-%d" % i for i in range(20)]
    socks = [await listener(u) for u in users]
    w.psql("CREATE OR REPLACE PROCEDURE hk_burst(n int) LANGUAGE plpgsql AS $$ BEGIN "
           "FOR i IN 1..n LOOP INSERT INTO tasks (id, user_id, title) "
           "VALUES ('hk-burst-' || i, 'hk-busy-' || (i % 20), 'x'); COMMIT; END LOOP; END $$")
    hints0, wake0 = stats("ring_hints", "ring_wakeups")
    t0 = time.time()
    w.psql("CALL hk_burst(6000)", options="-c synchronous_commit=off")
    took = time.time() - t0
    hints1, wake1 = stats("ring_hints", "ring_wakeups")
    rate = 6000 / took
    print("    6,000 commits in %.2fs (%.0f/s): %d hints, %d woke the worker"
          % (took, rate, hints1 - hints0, wake1 - wake0))
    # every client heard of its rows (and nothing was lost: the last row of
    # each user is within what its pull would fetch)
    for u, ws in zip(users, socks):
        msg = await w.recv_json(ws, 5)
        assert msg == {"type": "sync-available", "appId": "todo", "tables": ["tasks"]}, (u, msg)
    if rate >= 2000:
        # the worker polled: most commits did not write the eventfd
        assert wake1 - wake0 < 6000 * 0.5, (wake1 - wake0)
    # drained, idle again: one commit wakes the worker, at once
    for ws in socks:
        while True:
            try:
                await w.recv_json(ws, 0.3)
            except asyncio.TimeoutError:
                break
    await asyncio.sleep(0.5)
    wake2 = stats("ring_wakeups")[0]
    t1 = time.time()
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('hk-after-burst', 'hk-busy-3', 'x')")
    assert (await w.recv_json(socks[3], 2))["type"] == "sync-available"
    print("    after the burst: heard in %.0f ms" % ((time.time() - t1) * 1000))
    assert stats("ring_wakeups")[0] == wake2 + 1
    w.psql("DELETE FROM tasks WHERE id LIKE 'hk-burst-%' OR id = 'hk-after-burst'",
           options="-c mana_sync.hard_delete=on")
    for ws in socks:
        await ws.close()


TESTS = [t_commit_hook_is_the_default, t_notify_mode_per_session, t_abort_sends_nothing, t_two_phase_commit,
         t_ring_overflow_tells_everyone, t_busy_worker_polls]


def main():
    return w.run(TESTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
