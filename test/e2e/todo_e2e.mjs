// End-to-end test of examples/todo in a real browser (issue 6): Playwright
// (playwright-core from npm) drives Debian's chromium.  Two browser
// contexts are two devices of alice, a third is bob.  The page talks to the
// mana_sync worker of the cluster scripts/test.sh started; this script
// serves the page itself (with test tokens as dev-tokens.json) and makes its
// own database and app.  Screenshots of every step go to
// test/e2e/artifacts/ (kept as test artifacts; the assertions read the
// page's content).  Prints one line per test and "N passed, M failed".
//
// Environment: PGHOST PGPORT PGUSER (psql), MANA_WS_PORT, MANA_JWT_SECRET,
// CHROMIUM (default /usr/bin/chromium).
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const appDir = join(here, '..', '..', 'examples', 'todo');
const require = createRequire(join(appDir, 'package.json'));
const { chromium } = require('playwright-core');

const WS_PORT = process.env.MANA_WS_PORT || '3091';
const SECRET = process.env.MANA_JWT_SECRET || 'test-secret';
const API = `http://127.0.0.1:${WS_PORT}`;
const PAGE_PORT = 5174;
const ORIGIN = `http://127.0.0.1:${PAGE_PORT}`;
const DB = 'todo_e2e';
const APP = 'todo-e2e';
const ART = join(here, 'artifacts');
rmSync(ART, { recursive: true, force: true });
mkdirSync(ART, { recursive: true });

function psql(sql, db = DB) {
  return execFileSync('psql', ['-qXAt', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { encoding: 'utf8' }).trim();
}

function b64url(b) { return Buffer.from(b).toString('base64url'); }
function token(sub) {
  const now = Math.floor(Date.now() / 1000);
  const h = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = b64url(JSON.stringify({ sub, iat: now, exp: now + 3600 }));
  const s = createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${s}`;
}

// ---------------------------------------------------------------- setup

psql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`, 'postgres');
psql(`CREATE DATABASE ${DB}`, 'postgres');
psql(`CREATE EXTENSION mana_sync;
      CREATE TABLE todos (id text PRIMARY KEY, user_id text NOT NULL, title text NOT NULL DEFAULT '',
                          done boolean NOT NULL DEFAULT false, created_at timestamptz);
      SELECT mana_sync_enable('todos', '${APP}')`);
psql(`ALTER SYSTEM SET mana_sync.cors_origins = '${ORIGIN}'`, 'postgres');
psql('SELECT pg_reload_conf()', 'postgres');

const tokens = JSON.stringify({ alice: token('alice'), bob: token('bob') });
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
                '.json': 'application/json', '.map': 'application/json' };
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, ORIGIN).pathname);
  if (path === '/dev-tokens.json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(tokens);
  }
  const file = normalize(join(appDir, path === '/' ? 'index.html' : path));
  if (!file.startsWith(appDir) || !existsSync(file)) { res.writeHead(404); return res.end(); }
  res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
});
await new Promise((ok) => server.listen(PAGE_PORT, '127.0.0.1', ok));

// the worker finds the new database within a few seconds
for (let i = 0; i < 100; i++) {
  const n = psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mana_sync push worker' AND datname = '${DB}'`, 'postgres');
  if (n !== '0') break;
  await new Promise((r) => setTimeout(r, 200));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // the flags this machine's closed network wants (no calls home)
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const url = (user) => `${ORIGIN}/?user=${user}&app=${APP}&api=${encodeURIComponent(API)}`;
const ctxA = await browser.newContext(), ctxB = await browser.newContext(), ctxC = await browser.newContext();
const A = await ctxA.newPage(), B = await ctxB.newPage(), C = await ctxC.newPage();
for (const [p, u] of [[A, 'alice'], [B, 'alice'], [C, 'bob']]) {
  p.on('pageerror', (e) => console.log(`    page error (${u}): ${e.message}`));
  await p.goto(url(u));
  await p.waitForSelector('#status[data-state="synced"]', { timeout: 10000 });
}

const titles = (p) => p.$$eval('#list li .title', (els) => els.map((e) => e.value));
const rowOf = (p, title) => p.locator('#list li').filter({ has: p.locator(`.title[value="${title}"]`) });
async function waitTitles(p, pred, timeout) {
  const t0 = Date.now();
  for (;;) {
    const t = await titles(p);
    if (pred(t)) return Date.now() - t0;
    if (Date.now() - t0 > timeout) throw new Error(`timed out; the page shows ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
let step = 0;
async function shots(name) {
  step++;
  for (const [p, who] of [[A, 'A'], [B, 'B'], [C, 'C']])
    await p.screenshot({ path: join(ART, `${String(step).padStart(2, '0')}-${name}-${who}.png`) });
}
const seenByC = new Set();
async function watchC() { for (const t of await titles(C)) seenByC.add(t); }

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('A adds a todo; B shows it within 2 s without a reload', async () => {
  await A.fill('#new-title', 'Buy milk');
  await A.click('#add button');
  const ms = await waitTitles(B, (t) => t.includes('Buy milk'), 2000);
  console.log(`    B showed it after ${ms} ms`);
  await shots('added');
  await watchC();
});

test('A and B offline: A edits the title, B completes it; back online both converge', async () => {
  await ctxA.setOffline(true);
  await ctxB.setOffline(true);
  await A.waitForSelector('#status[data-state="offline"]', { timeout: 5000 });
  const ta = A.locator('#list li .title').first();
  if ((await ta.inputValue()) !== 'Buy milk') throw new Error('A does not show the todo');
  await ta.fill('Buy oat milk');
  await ta.press('Tab');          // the edit is committed when the field loses focus
  await rowOf(B, 'Buy milk').locator('.toggle').check();
  await A.waitForFunction(() => document.getElementById('pending').textContent.startsWith('1 '));
  await B.waitForFunction(() => document.getElementById('pending').textContent.startsWith('1 '));
  await shots('offline-edits');
  await ctxA.setOffline(false);
  await ctxB.setOffline(false);
  for (const p of [A, B]) {
    await waitTitles(p, (t) => t.includes('Buy oat milk'), 5000);
    await p.waitForFunction(() => {
      const li = [...document.querySelectorAll('#list li')].find((l) => l.querySelector('.title').value === 'Buy oat milk');
      return li && li.querySelector('.toggle').checked && document.getElementById('pending').textContent.startsWith('0 ');
    }, null, { timeout: 5000 });
  }
  const row = psql("SELECT title || '|' || done FROM todos WHERE user_id = 'alice'");
  if (row !== 'Buy oat milk|true') throw new Error(`the database row is ${row}`);
  await shots('converged');
  await watchC();
});

test('A deletes the todo; it disappears on B', async () => {
  await rowOf(A, 'Buy oat milk').locator('.delete').click();
  await waitTitles(B, (t) => !t.includes('Buy oat milk'), 2000);
  const del = psql("SELECT deleted_at IS NOT NULL FROM todos WHERE user_id = 'alice'");
  if (del !== 't') throw new Error('the row is not deleted in the database');
  await shots('deleted');
  await watchC();
});

test('two tabs of one browser (one replica) converge', async () => {
  const A2 = await ctxA.newPage();
  await A2.goto(url('alice'));
  await A2.waitForSelector('#status[data-state="synced"]', { timeout: 10000 });
  await A.fill('#new-title', 'Tab todo');
  await A.click('#add button');
  await waitTitles(A2, (t) => t.includes('Tab todo'), 2000);
  const el = A2.locator('#list li .title[value="Tab todo"]');
  await el.fill('Tab todo, edited in tab 2');
  await el.press('Tab');   // committed on leaving the field (the attribute still says "Tab todo")
  await waitTitles(A, (t) => t.includes('Tab todo, edited in tab 2'), 2000);
  await waitTitles(B, (t) => t.includes('Tab todo, edited in tab 2'), 3000);   // and the other device
  await A2.screenshot({ path: join(ART, 'tab2.png') });
  await A2.close();
  await watchC();
});

test("C (another user) never shows A's todos", async () => {
  await C.fill('#new-title', 'Bob only');
  await C.click('#add button');
  await waitTitles(C, (t) => t.includes('Bob only'), 2000);
  await C.reload();
  await C.waitForSelector('#status[data-state="synced"]', { timeout: 10000 });
  await watchC();
  for (const t of ['Buy milk', 'Buy oat milk'])
    if (seenByC.has(t)) throw new Error(`C showed ${t}`);
  // and A never shows bob's
  await new Promise((r) => setTimeout(r, 500));
  if ((await titles(A)).includes('Bob only')) throw new Error("A shows bob's todo");
  await shots('isolation');
});

test('a guest sees the seed todos at once and keeps them on the device', async () => {
  const ctxG = await browser.newContext();
  const G = await ctxG.newPage();
  await G.goto(`${ORIGIN}/?app=${APP}&api=${encodeURIComponent(API)}`);
  await G.waitForSelector('#status[data-state="local"]', { timeout: 5000 });
  await waitTitles(G, (t) => t.length === 3, 2000);
  await G.fill('#new-title', 'Guest todo');
  await G.click('#add button');
  await waitTitles(G, (t) => t.includes('Guest todo'), 2000);
  await G.reload();
  await waitTitles(G, (t) => t.includes('Guest todo') && t.length === 4, 2000);
  await G.screenshot({ path: join(ART, 'guest.png') });
  await ctxG.close();
  if (psql("SELECT count(*) FROM todos WHERE title = 'Guest todo'") !== '0') throw new Error('a guest todo reached the server');
});

let passed = 0, failed = 0;
for (const [name, fn] of tests) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name.padEnd(80)} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  } catch (e) {
    failed++;
    for (const ctx of [ctxA, ctxB]) await ctx.setOffline(false).catch(() => {});
    console.log(`FAIL ${name.padEnd(80)} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    console.log(String(e && e.stack || e));
    try { await shots('failure'); } catch { /* the browser may be gone */ }
  }
}
await browser.close();
server.close();
psql('ALTER SYSTEM RESET mana_sync.cors_origins', 'postgres');
psql('SELECT pg_reload_conf()', 'postgres');
psql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`, 'postgres');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
