#!/usr/bin/python3
"""Security review, network surfaces (issue 5, part 5): over HTTP (push,
pull, event stream) and the WebSocket, user B can neither read nor change
nor learn of user A's rows, and a token is needed and checked for each.
The SQL surface is sql/security.sql and sql/ownership.sql.  Run by
scripts/test.sh against the preloaded cluster; prints "N passed, M failed"."""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import worker_test as w  # noqa: E402
import http_test as h  # noqa: E402

SECRET_TITLE = "A's secret: the code is 4711"


def table_md5():
    return w.psql("SELECT md5(coalesce(string_agg(t::text, '' ORDER BY id), '')) FROM tasks t")


async def t_user_isolation_all_surfaces():
    a, b = "sec-alice", "sec-bob"
    # B listens on the WebSocket and on an event stream before A writes
    ws_b = await w.connect("/ws/todo?clientId=b1")
    assert (await w.auth(ws_b, w.token("HS256", sub=b)))["type"] == "auth-ok"
    stream_b = h.Stream("/sync/todo/stream?collections=tasks", h.tok(b))
    first = stream_b.event()
    assert first is not None and first["data"]["serverChanges"] == [], first

    # A writes through HTTP, and through plain SQL
    st, _, res = h.request("POST", "/sync/todo", {"changes": [h.insert("sec-a1", SECRET_TITLE, 10)]}, h.tok(a), "a1")
    assert st == 200, (st, res)
    w.psql("INSERT INTO tasks (id, user_id, title) VALUES ('sec-a2', '%s', 'by SQL')" % a)

    # B hears nothing of it, on either channel
    assert await w.nothing(ws_b, 1.0)
    assert stream_b.event(timeout=1.0) is None
    # B's pulls and pushes carry none of A's rows
    st, _, res = h.request("GET", "/sync/todo/pull?collection=tasks", token=h.tok(b))
    assert st == 200 and res["serverChanges"] == [], res
    st, _, res = h.request("POST", "/sync/todo", {"changes": []}, h.tok(b), "b1")
    assert st == 200 and res["serverChanges"] == [], res

    # B cannot change A's row by any op; the refusal names no owner and no value
    before = table_md5()
    for change in (h.update("sec-a1", {"title": "bob was here"}, 99999),
                   h.insert("sec-a1", "bob was here", 99999),
                   {"table": "tasks", "id": "sec-a1", "op": "delete", "deletedAt": h.ts(99999)}):
        st, _, res = h.request("POST", "/sync/todo", {"changes": [change]}, h.tok(b), "b1")
        assert st == 403, (change["op"], st, res)
        text = json.dumps(res)
        assert a not in text and "4711" not in text and "by SQL" not in text, text
    # nor hand a row to A
    st, _, res = h.request("POST", "/sync/todo", {"changes": [
        {"table": "tasks", "id": "sec-gift", "op": "insert",
         "data": {"title": "gift", "userId": a, "updatedAt": h.ts(5)}}]}, h.tok(b), "b1")
    assert st in (400, 403), (st, res)
    assert table_md5() == before, "a refused push changed the table"

    # a token signed with another secret, or for another app's key, is refused
    forged = w.token("HS256", sub=a, secret=b"not-the-secret")
    assert h.request("GET", "/sync/todo/pull?collection=tasks", token=forged)[0] == 401
    assert h.request("GET", "/sync/todo/pull?collection=tasks")[0] == 401
    assert h.request("GET", "/sync/todo/pull?collection=tasks", token=w.token("none", sub=a))[0] == 401
    # the clientId is the client's to choose and grants nothing
    st, _, res = h.request("GET", "/sync/todo/pull?collection=tasks", token=h.tok(b), client="a1")
    assert st == 200 and res["serverChanges"] == [], res
    # names from the query reach SQL only as parameters
    for q in ("collection=tasks%22%3B%20DROP%20TABLE%20tasks%3B--", "collection=pg_authid",
              "collection=tasks&since=x'%3B%20DROP%20TABLE%20tasks%3B--", "collection=tasks&limit=1%3B%20DROP"):
        st, _, res = h.request("GET", "/sync/todo/pull?" + q, token=h.tok(b))
        assert st in (400, 404), (q, st, res)
    assert w.psql("SELECT count(*) FROM tasks WHERE user_id = '%s'" % a) == "2"

    # A, for contrast, sees both rows everywhere
    st, _, res = h.request("GET", "/sync/todo/pull?collection=tasks", token=h.tok(a))
    assert {c["id"] for c in res["serverChanges"]} >= {"sec-a1", "sec-a2"}, res
    ws_a = await w.connect()
    assert (await w.auth(ws_a, w.token("HS256", sub=a)))["type"] == "auth-ok"
    w.psql("UPDATE tasks SET title = 'again' WHERE id = 'sec-a2'")
    assert (await w.recv_json(ws_a))["type"] == "sync-available"
    assert await w.nothing(ws_b, 1.0)
    stream_b.close()
    await ws_a.close()
    await ws_b.close()


async def t_unauthenticated_websocket_learns_nothing():
    """before auth a WebSocket gets no hint of any write, and a refused
    token closes it (1008) without telling whose rows exist"""
    ws = await w.connect()
    w.psql("UPDATE tasks SET title = 'x' || random() WHERE user_id = 'sec-alice'")
    assert await w.nothing(ws, 0.5)
    reply = await w.auth(ws, w.token("HS256", sub="sec-alice", secret=b"wrong"))
    assert reply["type"] == "error" and "sec-alice" not in json.dumps(reply), reply
    await ws.close()


TESTS = [t_user_isolation_all_surfaces, t_unauthenticated_websocket_learns_nothing]


def main():
    return w.run(TESTS, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
