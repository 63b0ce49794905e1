// The peer: a push server as people build it by hand with Node.js, `ws` and
// `pg`: LISTEN mana_sync, check an HS256 token, route each notification to
// the user's other connections.  Same protocol as the mana_sync worker, no
// coalescing.  Used only by bench/ws/run.sh, on the same workload.
//   node peer.js PORT PGHOST PGPORT DATABASE SECRET
'use strict';
const http = require('http');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');
const { Client } = require('pg');

const [port, pghost, pgport, database, secret] = process.argv.slice(2);
const byUser = new Map();          // sub -> Set of sockets

function verify(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return null;
  const sig = crypto.createHmac('sha256', secret).update(parts[0] + '.' + parts[1]).digest('base64url');
  if (sig.length !== parts[2].length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(parts[2]))) return null;
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
  } catch (e) { return null; }
  if (header.alg !== 'HS256' || typeof claims.sub !== 'string' || !claims.exp || claims.exp * 1000 < Date.now()) return null;
  return claims.sub;
}

const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server, maxPayload: 16384 });
wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const m = url.pathname.match(/^\/ws(?:\/([A-Za-z0-9_.-]{1,64}))?$/);
  if (!m) { ws.close(1008); return; }
  ws.app = m[1] || '';
  ws.clientId = url.searchParams.get('clientId') || '';
  const timer = setTimeout(() => ws.close(1008), 10000);
  ws.on('message', (data) => {
    let msg;
    try { msg = JSON.parse(data); } catch (e) { ws.close(1008); return; }
    if (msg.type === 'ping') { ws.send('{"type":"pong"}'); return; }
    if (msg.type === 'auth' && !ws.user) {
      const sub = verify(msg.token);
      if (!sub) { ws.send('{"type":"error","message":"bad token"}'); ws.close(1008); return; }
      clearTimeout(timer);
      ws.user = sub;
      if (msg.clientId) ws.clientId = msg.clientId;
      if (!byUser.has(sub)) byUser.set(sub, new Set());
      byUser.get(sub).add(ws);
      ws.send('{"type":"auth-ok"}');
    }
  });
  ws.on('close', () => {
    clearTimeout(timer);
    const set = ws.user && byUser.get(ws.user);
    if (set) { set.delete(ws); if (set.size === 0) byUser.delete(ws.user); }
  });
});

(async () => {
  const pg = new Client({ host: pghost, port: Number(pgport), database, user: 'postgres' });
  await pg.connect();
  pg.on('notification', (n) => {
    let p;
    try { p = JSON.parse(n.payload); } catch (e) { return; }
    const set = byUser.get(p.owner);
    if (!set) return;
    const out = JSON.stringify({ type: 'sync-available', appId: p.app, tables: [p.table] });
    for (const ws of set) {
      if ((ws.app === '' || ws.app === p.app) && (!p.client || ws.clientId !== p.client)) ws.send(out);
    }
  });
  await pg.query('LISTEN mana_sync');
  server.listen(Number(port), '127.0.0.1', () => console.log('peer listening on ' + port));
})();
