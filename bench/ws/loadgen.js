// Load generator: holds N authenticated WebSocket connections (one user
// each), then writes rows of random connected users at a steady rate and
// measures, for each write, the time from its commit (the UPDATE returning)
// to the receipt of sync-available by that user's connection.
//   node loadgen.js URL SERVER_PID N RATE SECONDS PGHOST PGPORT DATABASE SECRET [INTAKE]
// INTAKE: the writer's mana_sync.notify_mode, commit_hook (the server's
// default) or notify (hints as NOTIFY, which the Node.js peer LISTENs for).
// Prints one JSON line with the figures.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const WebSocket = require('ws');
const { Client } = require('pg');

const [url, serverPid, nStr, rateStr, secsStr, pghost, pgport, database, secret, intake] = process.argv.slice(2);
const N = Number(nStr), RATE = Number(rateStr), SECS = Number(secsStr);

function token(sub) {
  const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
  const s = crypto.createHmac('sha256', secret).update(h + '.' + p).digest('base64url');
  return h + '.' + p + '.' + s;
}

function rssKb(pid) {
  const m = fs.readFileSync('/proc/' + pid + '/status', 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}

const pending = new Map();   // user -> {done: commit acknowledged, recv: hint received early}
const lat = [];
let unexpected = 0;

function open(i) {
  return new Promise((resolve, reject) => {
    const user = 'u' + i;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: token(user) })));
    ws.on('message', (data) => {
      const now = performance.now();
      const msg = JSON.parse(data);
      if (msg.type === 'auth-ok') { resolve(ws); return; }
      if (msg.type === 'sync-available') {
        const w = pending.get(user);
        if (w === undefined) { unexpected++; return; }
        if (w.done === null) { w.recv = now; return; }   // the hint beat the commit's reply
        pending.delete(user);
        lat.push(Math.max(0, now - w.done));
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error('closed ' + code)));
  });
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

(async () => {
  const rssBefore = rssKb(serverPid);
  const conns = [];
  for (let i = 0; i < N; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 500); j++) batch.push(open(j));
    conns.push(...await Promise.all(batch));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = rssKb(serverPid);

  const pg = new Client({ host: pghost, port: Number(pgport), database, user: 'postgres' });
  await pg.connect();
  if (intake === 'notify' || intake === 'commit_hook') await pg.query(`SET mana_sync.notify_mode = ${intake}`);
  else if (intake) throw new Error('INTAKE must be commit_hook or notify');
  const interval = 1000 / RATE;
  const end = performance.now() + SECS * 1000;
  let writes = 0;
  let next = performance.now();
  while (performance.now() < end) {
    const user = 'u' + Math.floor(Math.random() * N);
    if (!pending.has(user)) {
      const w = { done: null, recv: null };
      pending.set(user, w);
      await pg.query('UPDATE bench_items SET n = n + 1 WHERE user_id = $1', [user]);
      w.done = performance.now();
      if (w.recv !== null) { pending.delete(user); lat.push(0); }
      writes++;
    }
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const sorted = lat.slice().sort((a, b) => a - b);
  console.log(JSON.stringify({
    connections: conns.length, rss_before_kb: rssBefore, rss_after_kb: rssAfter,
    bytes_per_conn: Math.round((rssAfter - rssBefore) * 1024 / conns.length),
    writes, received: lat.length, lost: pending.size, unexpected,
    p50_ms: pct(sorted, 50), p99_ms: pct(sorted, 99), max_ms: sorted[sorted.length - 1] || null,
  }));
  for (const ws of conns) ws.terminate();
  await pg.end();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
