#!/usr/bin/python3
"""Convergence torture harness of mana_sync.

Simulated devices (default 8: three users with 3, 3 and 2 devices) each keep
a local replica of their user's rows and, concurrently for a given time, make
random local changes, push them and pull, over both paths a client can take:
SQL (`mana_apply_changeset` / `mana_pull` in a persistent psql session) and
the push worker's HTTP endpoints (`POST /sync/{app}`,
`GET /sync/{app}/pull`, HS256 tokens).  Then every device sends what it still
holds, pulls until `hasMore` is false, and its replica is compared with the
server's table rows field by field (at a checkpoint every 10 s and at the
end).

    /usr/bin/python3 test/torture/torture.py                  # CI: exact 30 s + naive 15 s
    /usr/bin/python3 test/torture/torture.py --seconds 600    # a long exact run (+ the naive check)
    /usr/bin/python3 test/torture/torture.py --naive-cursor   # only the naive-cursor run
    bash test/torture/run.sh --seconds 600                    # the same on a cluster of its own

Environment (as the integration tests): PGHOST, PGPORT, PGUSER (a superuser
of a cluster with mana_sync installed and preloaded), MANA_WS_PORT (the
worker's port), MANA_JWT_SECRET (its mana_sync.jwt_secret).  The harness
creates database `mana_torture` (app `torture`; --db to change) and drops it
at the end (--keep-db to keep it).

What the devices do
-------------------
* Two synced tables: `todos` (owner `user_id`; text, boolean with a default,
  integer, and keys of an `extra` jsonb column: `tag`, `createdAt`) and
  `lists` (owner column `owner`; `varchar(16)`, `int NOT NULL DEFAULT 0`,
  `timestamptz`).  Row ids come from a small pool per user (`u1-t7`), so
  devices of one user insert, update, delete and restore the same rows
  concurrently: inserts of ids another device created (merge), updates and
  deletes of ids the server has never seen (row created, tombstone),
  restores (`deletedAt` null with a newer time), fields set to null by
  leaving `value` out, field times under `updatedAt` or `at`.  Values come
  from small sets (so equal values and ties happen), with quotes,
  backslashes and non-ASCII characters.
* Client timestamps: every device's clock is skewed (from -3 min to +10 min;
  the +10 min device is beyond mana_sync.max_future_skew, so all its times
  are clamped); ~2% of writes are far in the future (clamped, `warnings`);
  ~12% reuse exactly the time another device last used for the same field
  (ties, decided by the canonical-JSON rule).
* Pushes: all pending changes as one changeset, with the device's cursor as
  `since`.  Half go over SQL inside an explicit transaction that sleeps
  0-300 ms (`pg_sleep`) after `mana_apply_changeset` and before COMMIT (60%
  of them), so a transaction that read and wrote earlier commits after later
  ones, with other devices pushing and pulling meanwhile; half over HTTP.
  ~10% are sent twice (duplicates); ~10% are held back and sent after the
  device's next changeset, with their old `since` (reordered).  40001,
  deadlocks and HTTP 409 are retried (counted).  ~2% of pushes try to
  update another user's row and must be refused (42501 / HTTP 403).
* Pulls: `mana_pull` over SQL or HTTP with a random `limit` (2..1000), so
  paged cursors are used, until `hasMore` is false.
* The replica applies everything the server sends with the server's rule:
  a field takes the incoming (value, time) when the time is newer, or equal
  and the value's canonical JSON bytes are greater; `op: delete` sets field
  `deletedAt` (value and time are the delete time).  A local write overwrites
  the local field whatever its time (as the real client does); the server
  answers a losing write with the winning row.  A `clockSkew` warning moves
  the local time of the clamped field (still holding the time the device
  sent, or an earlier clamp of it) to the applied time (for `deletedAt` the
  value too).  The push's `syncedUntil` becomes the device's `todos` cursor
  (its `since` was that cursor); the `lists` cursor moves only by pulls.
* Isolation: every change, conflict and warning a device receives must name
  a row of its own user (id prefix, and `userId` / `owner` in `data`).

The check
---------
The run is cut into epochs (--checkpoint-seconds, 10 s).  At the end of
each, the devices stop making changes, send what they hold back and what is
pending (retrying), play the scripted late commit (below), wait for each
other, pull each collection until `hasMore` is false, and are compared with
the server; then the next epoch goes on from the same replicas and cursors.
For every device and table, the set of row ids must equal the server's rows
of that user (`SELECT` from the tables, not through mana_sync), and for
each row `deletedAt` (value and field time) must be equal; for rows not
deleted every field must be equal in value and field time
(`field_timestamps`; a never-stamped field counts as the epoch, as pulls
send it).  Fields of deleted rows are not compared: a delete is delivered
as `op: delete` with `deletedAt` only.  Each mismatch is a divergence; the
first ones are printed with the row's recent history on that device.  The
server's rows must also all belong to the user their id names.

The scripted late commit, at every checkpoint: one device of each user
makes one more change and pushes it over SQL in a transaction that commits
1.5 s after the statement that wrote it; 0.3 s after that statement the
user's other devices make a change, push it and pull both collections.
The exact cursor must deliver the late change at the checkpoint's pulls.

Naive mode (--naive-cursor)
---------------------------
Devices keep only the ISO part of every `syncedUntil` (a plain timestamp
cursor, which mana_pull still accepts: rows whose `updated_at` is at or
after it) and pull without paging.  `updated_at` is the start of the
statement that wrote the row, and delayed transactions commit up to 300 ms
(the late one 1.5 s) after it: a device that reads meanwhile moves its
timestamp cursor past the write and never sees it unless the row is written
again.  The random delays alone lose changes in every run tried (tens of
divergences in 15 s, with --no-late-commit); the scripted late commit makes
a loss certain at each checkpoint.  Naive mode passes when divergences are
found (> 0), exact mode when none are.

Other options: --devices 3,3,2 (devices per user), --max-delay 0.3,
--no-restores (devices never restore a deleted row; only odd ids are
deleted then, so half of the rows stay alive), --no-late-commit, --seed
(the devices' random choices; thread timing still differs run to run).

Prints the counts of each run and, last, "N passed, M failed".
"""
import argparse
import base64
import calendar
import collections
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

APP = "torture"
HTTP_PORT = int(os.environ.get("MANA_WS_PORT", "3091"))
SECRET = os.environ.get("MANA_JWT_SECRET", "test-secret").encode()

TITLES = ["", "a", "b", "milk", "Milk", "oat milk", "eggs", "zz", 'say "hi"', "back\\slash",
          "ünïcödé", "\U0001F95B", "Z", "milk 2l"]
NOTES = ["", "n", "call mum", "42", "x" * 40, "été", None]
TAGS = ["red", "blue", "", "x", "Red", "ü"]
NAMES = ["home", "work", "shop", "Home", "", "ä", 'q"q']
COLORS = ["#fff", "#000", "red", "", "blue", "#FFF"]

# field -> random value (None: the change sets the field to null)
TABLES = {
    "todos": {
        "owner": "userId", "prefix": "t", "pool": 24, "weight": 3,
        "fields": {
            "title": lambda r: r.choice(TITLES + [None]),
            "done": lambda r: r.choice([True, False, False, None]),
            "note": lambda r: r.choice(NOTES),
            "prio": lambda r: r.choice([-3, 0, 1, 2, 5, 9, 10, 11, 100, None]),
            "tag": lambda r: r.choice(TAGS + [None]),  # a key of the extra jsonb column
        },
    },
    "lists": {
        "owner": "owner", "prefix": "l", "pool": 8, "weight": 1,
        "fields": {
            "name": lambda r: r.choice(NAMES + [None]),
            "color": lambda r: r.choice(COLORS + [None]),
            "pos": lambda r: r.randint(0, 12),  # NOT NULL DEFAULT 0: never null
        },
    },
}
# every table also has field createdAt (insert data) and deletedAt

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS mana_sync;
CREATE TABLE todos (id text PRIMARY KEY, user_id text NOT NULL, title text, done boolean DEFAULT false,
                    note text, prio int, extra jsonb);
SELECT mana_sync_enable('todos', '%(app)s');
CREATE TABLE lists (id text PRIMARY KEY, owner text NOT NULL, name text, color varchar(16),
                    pos int NOT NULL DEFAULT 0, created_at timestamptz);
SELECT mana_sync_enable('lists', '%(app)s', owner_column => 'owner');
"""

ISO_SQL = "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
SERVER_ROWS_SQL = {
    "todos": "SELECT coalesce(json_agg(json_build_object('id', id, 'owner', user_id, 'title', title, "
             "'done', done, 'note', note, 'prio', prio, 'tag', extra->'tag', 'createdAt', extra->'createdAt', "
             "'deletedAt', " + ISO_SQL % "deleted_at" + ", 'fts', field_timestamps) ORDER BY id), '[]') FROM todos",
    "lists": "SELECT coalesce(json_agg(json_build_object('id', id, 'owner', owner, 'name', name, "
             "'color', color, 'pos', pos, 'createdAt', " + ISO_SQL % "created_at" + ", "
             "'deletedAt', " + ISO_SQL % "deleted_at" + ", 'fts', field_timestamps) ORDER BY id), '[]') FROM lists",
}

# ------------------------------------------------------------------ helpers


def iso(ms):
    s, m = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % m


def parse_iso(s):
    """'YYYY-MM-DDTHH:MM:SS.mmmZ' (as the server writes) -> ms since the epoch"""
    assert len(s) == 24 and s[-1] == "Z", s
    sec = calendar.timegm((int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]),
                           int(s[17:19]), 0, 0, 0))
    return sec * 1000 + int(s[20:23])


def canon(v):
    """canonical JSON bytes of a value, as the server's tie-break compares them"""
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()


def lww_wins(in_val, in_ts, cur):
    """True when (in_val, in_ts) replaces cur = (value, ts) or None"""
    if cur is None:
        return True
    if in_ts != cur[1]:
        return in_ts > cur[1]
    return canon(in_val) > canon(cur[0])


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(sub, lifetime):
    now = int(time.time())
    signing = "%s.%s" % (b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
                         b64(json.dumps({"sub": sub, "iat": now, "exp": now + lifetime}).encode()))
    return signing + "." + b64(hmac.new(SECRET, signing.encode(), hashlib.sha256).digest())


def psql(sql, db):
    r = subprocess.run(["psql", "-qXAt", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr)
    return r.stdout.strip()


class SqlError(Exception):
    def __init__(self, code, text):
        super().__init__("%s: %s" % (code, text))
        self.code = code


class Psql:
    """a persistent psql session: one backend per device, statements in order"""

    def __init__(self, db, appname):
        env = dict(os.environ, PGAPPNAME=appname)
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "VERBOSITY=verbose", "-d", db],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, encoding="utf-8", bufsize=1, env=env)
        self.n = 0

    def run(self, sql):
        """runs sql; returns the output lines, raises SqlError for the first ERROR"""
        self.n += 1
        marker = "__torture_end_%d__" % self.n
        self.p.stdin.write(sql + "\n\\echo " + marker + "\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline()
            if line == "":
                raise RuntimeError("psql session ended: %s" % "\n".join(out[-5:]))
            line = line.rstrip("\n")
            if line == marker:
                break
            out.append(line)
        for line in out:
            i = line.find("ERROR:")
            if i >= 0:
                rest = line[i + 6:].strip()
                code = rest.split(":", 1)[0]
                raise SqlError(code, rest)
        return out

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(5)
        except Exception:
            self.p.kill()


def dollar(s):
    assert "$cs$" not in s
    return "$cs$" + s + "$cs$"


def lit(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


class Http:
    """one keep-alive HTTP connection of a device to the worker"""

    def __init__(self, tok, client):
        self.tok, self.client, self.conn = tok, client, None

    def request(self, method, path, body=None):
        h = {"Authorization": "Bearer " + self.tok, "X-Client-Id": self.client}
        if body is not None:
            body = json.dumps(body, ensure_ascii=False).encode()
            h["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=60)
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                try:
                    return r.status, json.loads(data)
                except ValueError:
                    return r.status, data.decode(errors="replace")
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.05)

    def close(self):
        if self.conn is not None:
            self.conn.close()


class Retry(Exception):
    pass


# ------------------------------------------------------------------ a device

class Device:
    def __init__(self, run, idx, user, name, offset_ms, seed):
        self.run, self.idx, self.user, self.name = run, idx, user, name
        self.offset = offset_ms
        self.rng = random.Random(seed)
        self.naive = run.naive
        self.replica = {t: {} for t in TABLES}      # table -> id -> {field: (value, ts_ms)}
        self.cursor = {t: None for t in TABLES}
        self.pending = []                            # changes not yet in a changeset
        self.held = []                               # changesets held back (sent after the next one)
        self.clamps = {}                             # (table, id, field, requested) -> {applied}
        self.c = collections.Counter()
        self.history = collections.defaultdict(lambda: collections.deque(maxlen=40))
        self.errors = []
        self.db = Psql(run.db, "torture-" + name)
        self.http = Http(token(user, run.token_lifetime), name)

    # ---------------------------------------------------------- clocks

    def now(self):
        return int(time.time() * 1000) + self.offset + self.rng.randint(-2, 2)

    def stamp(self, table, rid, field, base):
        """a field time: the device's clock, or a tie, or far in the future"""
        key = (self.user, table, rid, field)
        r = self.rng.random()
        ties = self.run.ties
        if r < 0.12 and key in ties:
            ts = ties[key]
            self.c["tied stamps"] += 1
        elif r < 0.14:
            ts = base + self.rng.choice([6 * 60000, 3600000, 86400000 * 365 * 40])
            self.c["future stamps"] += 1
        else:
            ts = base
        ties[key] = ts
        return ts

    # ---------------------------------------------------------- local changes

    def note(self, table, rid, what):
        self.history[(table, rid)].append("%.3f %s" % (time.time() - self.run.t0, what))

    def local_set(self, table, rid, field, value, ts):
        self.replica[table].setdefault(rid, {})[field] = (value, ts)

    def deleted(self, row):
        d = row.get("deletedAt")
        return d is not None and d[0] is not None

    def edit(self):
        tables = [t for t in TABLES for _ in range(TABLES[t]["weight"])]
        table = self.rng.choice(tables)
        spec = TABLES[table]
        rows = self.replica[table]
        pool = ["%s-%s%d" % (self.user, spec["prefix"], k) for k in range(spec["pool"])]
        live = sorted(i for i, r in rows.items() if not self.deleted(r))
        dead = sorted(i for i, r in rows.items() if self.deleted(r))
        unknown = [i for i in pool if i not in rows]
        base = self.now()
        n = len(pool)
        restores = self.run.restores
        # without restores only odd ids are deleted, so that half of the rows stay alive
        mortal = live if restores else [i for i in live if int(i.rsplit(spec["prefix"], 1)[1]) % 2]
        # deletes are likelier the more rows are alive and restores the more are deleted,
        # so that about a third of the rows are deleted whatever the run's length
        p_delete = 0.08 * len(mortal) / n
        p_restore = 0.20 * len(dead) / n if restores else 0
        r = self.rng
        if not live:
            if dead and restores and r.random() < 0.5:
                return self.update(table, r.choice(dead), base, restore=True)
            return self.insert(table, r.choice(unknown or pool), base)  # may merge into a deleted row
        bands = [(0.02, lambda: self.insert(table, r.choice(live), base))]     # a known id: merges
        if unknown:
            bands += [(0.10, lambda: self.insert(table, r.choice(unknown), base)),
                      (0.03, lambda: self.update(table, r.choice(unknown), base))]  # creates the row
            if restores:
                bands.append((0.02, lambda: self.delete(table, r.choice(unknown), base)))  # a tombstone
        if mortal:
            bands.append((p_delete, lambda: self.delete(table, r.choice(mortal), base)))
        if p_restore:
            bands.append((p_restore, lambda: self.update(table, r.choice(dead), base, restore=True)))
        x = r.random()
        for p, change in bands:
            if x < p:
                return change()
            x -= p
        self.update(table, r.choice(live), base)

    def insert(self, table, rid, base):
        spec = TABLES[table]
        names = list(spec["fields"])
        chosen = self.rng.sample(names, self.rng.randint(1, len(names)))
        ts = self.stamp(table, rid, chosen[0], base)
        data = {"id": rid}
        for f in chosen:
            v = spec["fields"][f](self.rng)
            data[f] = v
            self.local_set(table, rid, f, v, ts)
        data["createdAt"] = iso(ts)
        data["updatedAt"] = iso(ts)
        self.local_set(table, rid, "createdAt", iso(ts), ts)
        self.pending.append({"table": table, "id": rid, "op": "insert", "data": data})
        self.c["changes made"] += 1
        self.c["inserts"] += 1
        self.note(table, rid, "local insert %s" % json.dumps(data, ensure_ascii=False))

    def update(self, table, rid, base, restore=False):
        spec = TABLES[table]
        names = list(spec["fields"])
        chosen = self.rng.sample(names, self.rng.randint(1 if not restore else 0, min(3, len(names))))
        fields = {}
        for f in chosen:
            v = spec["fields"][f](self.rng)
            ts = self.stamp(table, rid, f, base)
            key = "at" if self.rng.random() < 0.5 else "updatedAt"
            fields[f] = {key: iso(ts)} if v is None and self.rng.random() < 0.5 else {"value": v, key: iso(ts)}
            self.local_set(table, rid, f, v, ts)
        if restore:
            ts = self.stamp(table, rid, "deletedAt", base)
            fields["deletedAt"] = {"value": None, "at": iso(ts)}
            self.local_set(table, rid, "deletedAt", None, ts)
            self.c["restores"] += 1
        else:
            self.c["updates"] += 1
        self.pending.append({"table": table, "id": rid, "op": "update", "fields": fields})
        self.c["changes made"] += 1
        self.note(table, rid, "local update %s" % json.dumps(fields, ensure_ascii=False))

    def delete(self, table, rid, base):
        ts = self.stamp(table, rid, "deletedAt", base)
        self.local_set(table, rid, "deletedAt", iso(ts), ts)
        self.pending.append({"table": table, "id": rid, "op": "delete", "deletedAt": iso(ts)})
        self.c["changes made"] += 1
        self.c["deletes"] += 1
        self.note(table, rid, "local delete %s" % iso(ts))

    # ---------------------------------------------------------- what the server sends

    def mine(self, table, rid, where):
        if table not in TABLES or not isinstance(rid, str) or not rid.startswith(self.user + "-"):
            self.run.leak("%s received %s row %r of table %r (%s)" % (self.name, where, rid, table, where))
            return False
        return True

    def absorb(self, resp, where):
        """apply a push or pull response: warnings first, then the rows"""
        if not isinstance(resp, dict) or "syncedUntil" not in resp or "serverChanges" not in resp:
            raise RuntimeError("%s: unexpected response %r" % (where, resp))
        for cf in resp.get("conflicts", []):
            self.mine(cf.get("table"), cf.get("id"), "a conflict about")
            self.c["conflicts"] += 1
        for w in resp.get("warnings", []):
            if not self.mine(w.get("table"), w.get("id"), "a warning about"):
                continue
            if w.get("type") != "clockSkew":
                self.c["warnings " + str(w.get("type"))] += 1
                continue
            self.c["clamped fields"] += 1
            table, rid, f = w["table"], w["id"], w["field"]
            req, app = parse_iso(w["requested"]), parse_iso(w["applied"])
            seen = self.clamps.setdefault((table, rid, f, req), set())
            cur = self.replica[table].get(rid, {}).get(f)
            if cur is not None and (cur[1] == req or (cur[1] in seen and app > cur[1])):
                v = cur[0]
                if f == "deletedAt" and v is not None:
                    v = iso(app)
                self.local_set(table, rid, f, v, app)
                self.note(table, rid, "%s clamp %s %s -> %s" % (where, f, w["requested"], w["applied"]))
            seen.add(app)
        for ch in resp["serverChanges"]:
            table, rid = ch.get("table"), ch.get("id")
            if not self.mine(table, rid, "a change of"):
                continue
            data = ch.get("data")
            if data is not None and data.get(TABLES[table]["owner"]) != self.user:
                self.run.leak("%s received row %s of owner %r" % (self.name, rid, data.get(TABLES[table]["owner"])))
                continue
            self.c["rows received"] += 1
            if ch["op"] == "delete":
                d = ch["deletedAt"]
                self.merge(table, rid, "deletedAt", d, parse_iso(d), where)
            elif ch["op"] == "update":
                for f, fv in ch["fields"].items():
                    at = fv.get("at")
                    if at is None or fv.get("updatedAt") != at:
                        raise RuntimeError("%s: field %s of %s without at/updatedAt: %r" % (where, f, rid, fv))
                    self.merge(table, rid, f, fv.get("value"), parse_iso(at), where)
            else:
                raise RuntimeError("%s: unknown op in %r" % (where, ch))

    def merge(self, table, rid, f, v, ts, where):
        row = self.replica[table].setdefault(rid, {})
        cur = row.get(f)
        if lww_wins(v, ts, cur):
            if cur != (v, ts):
                self.note(table, rid, "%s %s := %s @%s" % (where, f, json.dumps(v, ensure_ascii=False), iso(ts)))
            row[f] = (v, ts)

    def set_cursor(self, table, c):
        self.cursor[table] = c.split("#", 1)[0] if self.naive else c

    # ---------------------------------------------------------- push

    def send(self, cs):
        """one changeset, retried on retryable errors; applies the answer"""
        body = json.dumps(cs, ensure_ascii=False)
        for attempt in range(30):
            try:
                if self.rng.random() < 0.5:
                    resp = self.push_sql(body)
                else:
                    resp = self.push_http(cs)
                break
            except Retry as e:
                self.c["retried (%s)" % e] += 1
                time.sleep(self.rng.uniform(0.01, 0.1))
        else:
            raise RuntimeError("%s: changeset kept failing" % self.name)
        self.absorb(resp, "push")
        if resp.get("hasMore"):
            self.c["push hasMore"] += 1
        self.set_cursor("todos", resp["syncedUntil"])
        return resp

    def push_sql(self, body):
        delay = self.rng.uniform(0, self.run.max_delay) if self.rng.random() < 0.6 else 0
        sql = "BEGIN;\nSELECT mana_apply_changeset(%s::jsonb, %s);\n" % (dollar(body), lit(self.user))
        if delay > 0:
            sql += "SELECT pg_sleep(%.3f);\n" % delay
            self.c["delayed transactions"] += 1
        sql += "COMMIT;"
        try:
            out = self.db.run(sql)
        except SqlError as e:
            self.db.run("ROLLBACK;")
            if e.code in ("40001", "40P01"):
                raise Retry("sql " + e.code)
            raise
        self.c["pushes sql"] += 1
        return json.loads(next(line for line in out if line.startswith("{")))

    def push_http(self, cs):
        st, resp = self.http.request("POST", "/sync/" + APP, cs)
        if st in (409, 503):
            raise Retry("http %d" % st)
        if st >= 500:
            self.c["http %d" % st] += 1
            raise Retry("http %d" % st)
        if st != 200:
            raise RuntimeError("%s: push answered %d: %r" % (self.name, st, resp))
        self.c["pushes http"] += 1
        return resp

    def changeset(self):
        cs = {"clientId": self.name, "appId": APP, "since": self.cursor["todos"], "changes": self.pending}
        if cs["since"] is None:
            del cs["since"]
        self.pending = []
        return cs

    def push(self, final=False):
        if self.pending:
            cs = self.changeset()
            if not final and not self.held and self.rng.random() < 0.10:
                self.held.append(cs)
                self.c["pushes held back"] += 1
                return
            self.send(cs)
            if self.rng.random() < 0.10:
                self.send(cs)
                self.c["duplicate pushes"] += 1
        for cs in self.held:
            self.send(cs)
            self.c["reordered pushes"] += 1
        self.held = []

    def foreign_write(self):
        """an update of another user's row: refused (42501, HTTP 403 without serverChanges)"""
        other = self.rng.choice([u for u in self.run.users if u != self.user])
        cs = {"clientId": self.name, "appId": APP, "changes": [
            {"table": "todos", "id": other + "-t0", "op": "update",
             "fields": {"title": {"value": "stolen", "at": iso(self.now() + 60000)}}}]}
        if self.rng.random() < 0.5:
            try:
                self.db.run("SELECT mana_apply_changeset(%s::jsonb, %s);" % (dollar(json.dumps(cs)), lit(self.user)))
                self.run.leak("%s wrote %s-t0 over SQL" % (self.name, other))
            except SqlError as e:
                if e.code != "42501":
                    raise
        else:
            st, resp = self.http.request("POST", "/sync/" + APP, cs)
            if st != 403 or not isinstance(resp, dict) or "serverChanges" in resp:
                self.run.leak("%s wrote %s-t0 over HTTP: %d %r" % (self.name, other, st, resp))
        self.c["foreign writes refused"] += 1

    # ---------------------------------------------------------- pull

    def pull(self, table):
        while True:
            limit = 100000 if self.naive else self.rng.choice([2, 5, 20, 1000])
            since = self.cursor[table]
            if self.rng.random() < 0.5:
                out = self.db.run("SELECT mana_pull('%s', '%s', %s, %s, %s, %d);"
                                  % (APP, table, lit(since), lit(self.user), lit(self.name), limit))
                resp = json.loads(out[0])
                self.c["pulls sql"] += 1
            else:
                q = "collection=%s&limit=%d" % (table, limit)
                if since is not None:
                    q += "&since=" + urllib.parse.quote(since, safe="")
                st, resp = self.http.request("GET", "/sync/%s/pull?%s" % (APP, q))
                if st != 200:
                    if st in (409, 503) or st >= 500:
                        self.c["retried (http %d)" % st] += 1
                        time.sleep(0.05)
                        continue
                    raise RuntimeError("%s: pull answered %d: %r" % (self.name, st, resp))
                self.c["pulls http"] += 1
            if resp.get("hasMore"):
                self.c["pull pages cut"] += 1
            self.absorb(resp, "pull")
            self.set_cursor(table, resp["syncedUntil"])
            if not resp.get("hasMore"):
                return

    # ---------------------------------------------------------- the run

    def main(self):
        run = self.run
        for _ in range(run.epochs):
            try:
                self.loop()
            except Exception:
                self.errors.append(traceback.format_exc())
                run.stop.set()
            try:
                self.finish()
            except threading.BrokenBarrierError:
                return
            except Exception:
                self.errors.append(traceback.format_exc())
                run.stop.set()
                run.barrier.abort()
                run.check_barrier.abort()
                return
            if run.stop.is_set():
                return

    def loop(self):
        run = self.run
        while time.time() < run.epoch_end and not run.stop.is_set():
            x = self.rng.random()
            if x < 0.55:
                for _ in range(self.rng.choice([1, 1, 2, 3])):
                    self.edit()
            elif x < 0.78:
                self.push()
            elif x < 0.98:
                self.pull(self.rng.choice(["todos", "todos", "lists"]))
            else:
                self.foreign_write()
            time.sleep(self.rng.uniform(0, 0.02))

    def finish(self):
        run = self.run
        run.barrier.wait(120)
        if run.stop.is_set():
            run.check_barrier.wait(120)
            return
        while self.held or self.pending:
            self.push(final=True)
        # the scripted late commit: the first device of each user makes one more change and
        # commits it 1.5 s after the statement that wrote it; the others push and pull meanwhile
        if not run.late_commit:
            pass
        elif run.late_devices[self.user] is self:
            self.edit()
            cs = self.changeset()
            with run.lock:
                run.late_rows.update((ch["table"], ch["id"]) for ch in cs["changes"])
            self.late_push(cs)
        else:
            run.late_started[self.user].wait(10)
            time.sleep(0.3)
            self.edit()
            self.push(final=True)
            for t in TABLES:
                self.pull(t)
        while self.held or self.pending:
            self.push(final=True)
        run.barrier.wait(120)
        for t in TABLES:
            self.pull(t)
        run.check_barrier.wait(300)     # its action compares every replica with the server

    def late_push(self, cs):
        """BEGIN; apply; (the user's other devices are let go); sleep 1.5 s; COMMIT"""
        body = json.dumps(cs, ensure_ascii=False)
        try:
            out = self.db.run("BEGIN;\nSELECT mana_apply_changeset(%s::jsonb, %s);" % (dollar(body), lit(self.user)))
        except SqlError as e:
            self.run.late_started[self.user].set()
            self.db.run("ROLLBACK;")
            if e.code not in ("40001", "40P01"):
                raise
            self.send(cs)
            return
        self.run.late_started[self.user].set()
        self.db.run("SELECT pg_sleep(1.5); COMMIT;")
        self.c["pushes sql"] += 1
        self.c["delayed transactions"] += 1
        resp = json.loads(next(line for line in out if line.startswith("{")))
        self.absorb(resp, "push")
        self.set_cursor("todos", resp["syncedUntil"])

    def close(self):
        self.db.close()
        self.http.close()


# ------------------------------------------------------------------ a run

class Run:
    def __init__(self, args, naive, seconds, seed):
        self.db = args.db
        self.naive = naive
        self.seconds = seconds
        self.max_delay = args.max_delay
        self.restores = not args.no_restores
        self.token_lifetime = int(seconds) + 3600
        self.users = ["u%d" % (i + 1) for i in range(len(args.devices))]
        self.ties = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.leaks = []
        rng = random.Random(seed)
        offsets = [0, -90000, 45000, -180000, 240000, 600000, 1500, -700, 30000, -30000, 120000, -5000]
        self.devices = []
        k = 0
        for u, n in zip(self.users, args.devices):
            for j in range(n):
                self.devices.append(Device(self, k, u, "%s-dev%d" % (u, j + 1), offsets[k % len(offsets)],
                                           rng.randrange(1 << 30)))
                k += 1
        self.barrier = threading.Barrier(len(self.devices))
        self.check_barrier = threading.Barrier(len(self.devices), action=self.checkpoint)
        self.epochs = max(1, int(round(seconds / args.checkpoint_seconds)))
        self.epoch_len = seconds / self.epochs
        self.checks = []              # divergences found at each checkpoint
        self.shown = []               # the first ones, with the row's history on that device
        self.check_errors = []
        self.late_divergences = 0
        self.late_commit = not args.no_late_commit
        self.late_rows = set()
        self.late_devices = {}
        self.late_started = {u: threading.Event() for u in self.users}
        for d in self.devices:
            self.late_devices.setdefault(d.user, d)

    def leak(self, what):
        with self.lock:
            self.leaks.append(what)

    def checkpoint(self):
        """all devices are idle at the barrier: compare, then start the next epoch"""
        try:
            divergences = self.check()
            self.checks.append(len(divergences))
            self.late_divergences += sum(1 for dv in divergences if (dv[1], dv[2]) in self.late_rows)
            self.late_rows = set()
            for d, t, rid, f, lv, sv in divergences:
                if len(self.shown) < (8 if self.naive else 25):
                    self.shown.append((len(self.checks), d.name, t, rid, f, lv, sv, list(d.history[(t, rid)])))
        except Exception:
            self.check_errors.append(traceback.format_exc())
            self.stop.set()
        for e in self.late_started.values():
            e.clear()
        self.epoch_end = time.time() + self.epoch_len

    def go(self):
        self.t0 = time.time()
        self.epoch_end = self.t0 + self.epoch_len
        threads = [threading.Thread(target=d.main, name=d.name, daemon=True) for d in self.devices]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.seconds + 600)
        self.elapsed = time.time() - self.t0
        for d in self.devices:
            d.close()

    def check(self):
        """compare every device with the server's rows; returns the divergences"""
        server = {}
        for t in TABLES:
            rows = json.loads(psql(SERVER_ROWS_SQL[t], self.db))
            server[t] = rows
            for r in rows:
                if not r["id"].startswith(r["owner"] + "-"):
                    self.leak("server row %s of table %s has owner %s" % (r["id"], t, r["owner"]))
        divergences = []
        for d in self.devices:
            for t, spec in TABLES.items():
                srows = {r["id"]: r for r in server[t] if r["owner"] == d.user}
                local = d.replica[t]
                for rid in sorted(set(srows) | set(local)):
                    if rid not in srows:
                        divergences.append((d, t, rid, "row not on the server", "", ""))
                        continue
                    if rid not in local:
                        divergences.append((d, t, rid, "row missing on the device", "", ""))
                        continue
                    s, row = srows[rid], local[rid]
                    fts = s["fts"] or {}

                    def sfield(f):
                        ts = fts.get(f)
                        return (s[f], parse_iso(ts) if ts else 0)

                    sdel, ldel = sfield("deletedAt"), row.get("deletedAt", (None, 0))
                    if sdel != ldel:
                        divergences.append((d, t, rid, "deletedAt", ldel, sdel))
                    if sdel[0] is not None:
                        continue
                    for f in list(spec["fields"]) + ["createdAt"]:
                        sv, lv = sfield(f), row.get(f, (None, 0))
                        if sv != lv:
                            divergences.append((d, t, rid, f, lv, sv))
        self.server = server
        return divergences

    def report(self):
        c = collections.Counter()
        for d in self.devices:
            c.update(d.c)
        mode = "naive timestamp cursor" if self.naive else "exact cursor"
        print("-- %s: %d devices of %d users, %.1f s (%.0f s of changes in %d epochs, each ending in a checkpoint)"
              % (mode, len(self.devices), len(self.users), self.elapsed, self.seconds, self.epochs))
        keys = ["changes made", "inserts", "updates", "deletes", "restores", "tied stamps", "future stamps",
                "pushes sql", "pushes http", "delayed transactions", "duplicate pushes", "pushes held back",
                "reordered pushes", "foreign writes refused", "pulls sql", "pulls http", "pull pages cut",
                "rows received", "conflicts", "clamped fields"]
        keys += sorted(k for k in c if k not in keys)
        for k in keys:
            print("   %-24s %d" % (k, c[k]))
        server = getattr(self, "server", {})
        nrows = sum(len(v) for v in server.values())
        ndel = sum(1 for v in server.values() for r in v if r["deletedAt"] is not None)
        print("   %-24s %d (%d deleted)" % ("server rows", nrows, ndel))
        print("   %-24s %d" % ("checkpoints", len(self.checks)))
        print("   %-24s %d" % ("isolation violations", len(self.leaks)))
        print("   %-24s %d (per checkpoint: %s; %d on rows of the scripted late commits)"
              % ("divergences", sum(self.checks), " ".join(map(str, self.checks)), self.late_divergences))
        for what in self.leaks[:10]:
            print("   LEAK " + what)
        for k, name, t, rid, f, lv, sv, hist in self.shown:
            print("   DIVERGENCE at checkpoint %d: %s %s %s %s: device %s, server %s"
                  % (k, name, t, rid, f, fmt(lv), fmt(sv)))
            if not self.naive:
                for h in hist:
                    print("        " + h)
        errors = self.check_errors + [e for d in self.devices for e in d.errors]
        for e in errors[:3]:
            print(e)
        return errors


def fmt(v):
    if isinstance(v, tuple) and len(v) == 2:
        return "%s @%s" % (json.dumps(v[0], ensure_ascii=False), iso(v[1]))
    return str(v)


def setup(db):
    psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db, "postgres")
    psql("CREATE DATABASE %s" % db, "postgres")
    psql(SCHEMA % {"app": APP}, db)
    # the worker finds a new database within a few seconds
    h = Http(token("u1", 600), "setup")
    end = time.time() + 30
    while True:
        st, resp = h.request("GET", "/sync/%s/pull?collection=todos" % APP)
        if st == 200:
            break
        if time.time() > end:
            raise RuntimeError("the worker never served app %s: %d %r" % (APP, st, resp))
        time.sleep(0.3)
    h.close()


def reset(db, users):
    """empty tables, and one row of each user that other users try to write"""
    psql("TRUNCATE todos, lists", db)
    old = iso(int(time.time() * 1000) - 3600000)
    for u in users:
        cs = {"clientId": "seed", "appId": APP, "changes": [
            {"table": "todos", "id": u + "-t0", "op": "insert",
             "data": {"id": u + "-t0", "title": "seed", "createdAt": old, "updatedAt": old}},
            {"table": "lists", "id": u + "-l0", "op": "insert",
             "data": {"id": u + "-l0", "name": "seed", "pos": 0, "createdAt": old, "updatedAt": old}}]}
        psql("SELECT mana_apply_changeset(%s::jsonb, %s) IS NOT NULL" % (dollar(json.dumps(cs)), lit(u)), db)


def one(args, naive, seconds, seed):
    reset(args.db, ["u%d" % (i + 1) for i in range(len(args.devices))])
    run = Run(args, naive, seconds, seed)
    run.go()
    errors = run.report()
    divergences = sum(run.checks)
    if errors or run.leaks or len(run.checks) != run.epochs:
        print("FAIL %s run: %s" % ("naive" if naive else "exact",
                                   "errors" if errors else "isolation violated" if run.leaks else "checkpoints missing"))
        return False
    if naive:
        ok = divergences > 0
        print("ok   naive timestamp cursor loses changes (%d divergences found)" % divergences if ok else
              "FAIL naive timestamp cursor: no divergence found")
    else:
        ok = divergences == 0
        print("ok   exact cursor converges" if ok else "FAIL exact cursor: %d divergences" % divergences)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30, help="duration of the exact-cursor run")
    ap.add_argument("--naive-seconds", type=float, default=15, help="duration of the naive-cursor run")
    ap.add_argument("--naive-cursor", action="store_true", help="only the naive-cursor run")
    ap.add_argument("--exact-only", action="store_true", help="only the exact-cursor run")
    ap.add_argument("--devices", default="3,3,2", help="devices per user (default 3,3,2)")
    ap.add_argument("--checkpoint-seconds", type=float, default=10,
                    help="changes between two checkpoints (all devices quiesce and are compared)")
    ap.add_argument("--max-delay", type=float, default=0.3, help="longest sleep inside a push transaction (s)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--db", default="mana_torture")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--no-restores", action="store_true", help="devices never restore a deleted row")
    ap.add_argument("--no-late-commit", action="store_true", help="no scripted late commit in the final flush")
    args = ap.parse_args()
    args.devices = [int(x) for x in args.devices.split(",")]
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("torture: seed %d (rerun with --seed %d)" % (seed, seed))
    passed = failed = 0
    try:
        setup(args.db)
        modes = []
        if not args.naive_cursor:
            modes.append((False, args.seconds))
        if not args.exact_only:
            modes.append((True, args.naive_seconds))
        for naive, seconds in modes:
            if one(args, naive, seconds, seed):
                passed += 1
            else:
                failed += 1
    except Exception:
        traceback.print_exc()
        failed += 1
    finally:
        if not args.keep_db:
            try:
                psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % args.db, "postgres")
            except Exception:
                pass
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
