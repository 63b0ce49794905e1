// HTTP sync benchmark driver (bench/http/run.sh).
//   node load.js overhead BASE PGHOST PGPORT DB SECRET N
//   node load.js rate BASE SECRET RATE SECONDS USERS
//   node load.js maxrate BASE SECRET USERS STEP_SECONDS
// BASE is http://127.0.0.1:PORT.  Prints one JSON line per measurement.
'use strict';
const crypto = require('crypto');
const http = require('http');
const { Client } = require('pg');

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function token(sub, secret) {
  const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 7200 })).toString('base64url');
  return h + '.' + p + '.' + crypto.createHmac('sha256', secret).update(h + '.' + p).digest('base64url');
}

function req(base, method, path, tok, body) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const r = http.request(base + path, {
      method, agent,
      headers: Object.assign({ Authorization: 'Bearer ' + tok },
        body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {}),
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode }));
    });
    r.on('error', () => resolve({ ms: performance.now() - t0, status: 0 }));
    if (body) r.write(body);
    r.end();
  });
}

let seq = 0;
function changeset(user) {
  seq++;
  const at = new Date(Date.now()).toISOString();
  return JSON.stringify({ clientId: 'bench-' + user, changes: [{ table: 'items', id: 'i-' + user, op: 'update',
    fields: { title: { value: 'v' + seq, updatedAt: at }, n: { value: seq, updatedAt: at } } }] });
}

function pct(a, p) {
  if (a.length === 0) return null;
  const s = a.slice().sort((x, y) => x - y);
  return +s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))].toFixed(3);
}

async function overhead(base, pghost, pgport, db, secret, n) {
  const user = 'u0', tok = token(user, secret);
  const pg = new Client({ host: pghost, port: Number(pgport), database: db, user: 'postgres' });
  await pg.connect();
  const httpMs = [], sqlMs = [];
  for (let i = 0; i < 50; i++) {       // warm up both paths
    await req(base, 'POST', '/sync/bench', tok, changeset(user));
    await pg.query('SELECT mana_apply_changeset($1::jsonb, $2)', [JSON.stringify(Object.assign(JSON.parse(changeset(user)), { appId: 'bench' })), user]);
  }
  for (let i = 0; i < n; i++) {        // interleaved, one at a time
    const r = await req(base, 'POST', '/sync/bench', tok, changeset(user));
    if (r.status !== 200) throw new Error('status ' + r.status);
    httpMs.push(r.ms);
    const body = JSON.stringify(Object.assign(JSON.parse(changeset(user)), { appId: 'bench' }));
    const t0 = performance.now();
    await pg.query('SELECT mana_apply_changeset($1::jsonb, $2)', [body, user]);
    sqlMs.push(performance.now() - t0);
  }
  await pg.end();
  const h = pct(httpMs, 50), s = pct(sqlMs, 50);
  console.log(JSON.stringify({ kind: 'overhead', n, http_p50_ms: h, sql_p50_ms: s, ratio: +(h / s).toFixed(2),
    http_p99_ms: pct(httpMs, 99), sql_p99_ms: pct(sqlMs, 99) }));
}

// open loop: requests start on schedule whether or not earlier ones finished
async function rate(base, secret, rps, seconds, users) {
  const toks = [];
  for (let i = 0; i < users; i++) toks.push(token('u' + i, secret));
  const push = [], pull = [];
  let errors = 0;
  const inflight = [];
  const start = performance.now();
  const total = Math.round(rps * seconds);
  for (let i = 0; i < total; i++) {
    const due = start + i * 1000 / rps;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const u = Math.floor(Math.random() * users);
    const p = (i % 2 === 0)
      ? req(base, 'POST', '/sync/bench', toks[u], changeset('u' + u)).then((r) => { if (r.status === 200) push.push(r.ms); else errors++; })
      : req(base, 'GET', '/sync/bench/pull?collection=items', toks[u]).then((r) => { if (r.status === 200) pull.push(r.ms); else errors++; });
    inflight.push(p);
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  return { kind: 'rate', rps, seconds, achieved_rps: +(total / elapsed).toFixed(1), errors,
    push_p50_ms: pct(push, 50), push_p95_ms: pct(push, 95), push_p99_ms: pct(push, 99),
    pull_p50_ms: pct(pull, 50), pull_p95_ms: pct(pull, 95), pull_p99_ms: pct(pull, 99),
    all_p99_ms: pct(push.concat(pull), 99) };
}

(async () => {
  const [mode, ...a] = process.argv.slice(2);
  if (mode === 'overhead') await overhead(a[0], a[1], a[2], a[3], a[4], Number(a[5]));
  else if (mode === 'rate') console.log(JSON.stringify(await rate(a[0], a[1], Number(a[2]), Number(a[3]), Number(a[4]))));
  else if (mode === 'maxrate') {
    let best = null;
    for (const r of [200, 400, 600, 800, 1000, 1200, 1500, 1800, 2200, 2600, 3000]) {
      const res = await rate(a[0], a[1], r, Number(a[3]), Number(a[2]));
      console.error(JSON.stringify(res));
      if (res.errors > 0 || res.all_p99_ms >= 50 || res.achieved_rps < r * 0.95) break;
      best = res;
    }
    console.log(JSON.stringify({ kind: 'maxrate', best_rps: best ? best.rps : 0, at: best }));
  }
  agent.destroy();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
