// sync.js: the local-first store and its sync with mana_sync.
//
// Rows live in IndexedDB (Dexie), one database per user.  Every field keeps
// the time it was last written (ISO-8601, as the wire format has it); local
// edits stamp the device's clock and go to an outbox.  Sync pushes the
// outbox (POST /sync/{app}), applies the answer, then pulls
// (GET /sync/{app}/pull) until hasMore is false; a WebSocket on /ws/{app}
// says when to pull again.  Server changes are merged with the server's
// rule: per field, the newer timestamp wins; on equal timestamps the greater
// canonical JSON value wins, so every device ends with the same rows.
import Dexie from './node_modules/dexie/dist/dexie.mjs';

export const FIELDS = ['title', 'done', 'createdAt', 'deletedAt'];
const COLLECTION = 'todos';

// JSON text compared as bytes (UTF-8): the server's tie-break
function canon(v) { return new TextEncoder().encode(JSON.stringify(v === undefined ? null : v)); }
function greater(a, b) {
  const x = canon(a), y = canon(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] > y[i];
  return x.length > y.length;
}
// does (value v1 at t1) beat (value v2 at t2)?
export function wins(t1, v1, t2, v2) {
  if (!t2) return true;
  if (!t1) return false;
  if (t1 !== t2) return t1 > t2;   // ISO-8601 UTC with ms: string order is time order
  return greater(v1, v2);
}

export class SyncStore extends EventTarget {
  constructor({ user, token, api, ws, app = 'todo' }) {
    super();
    this.user = user;
    this.token = token;
    this.api = api;
    this.wsUrl = ws;
    this.app = app;
    this.clientId = null;
    this.state = user ? 'syncing' : 'local';
    this.lastStamp = '';
    this.db = new Dexie('mana-todo-' + (user || 'guest'));
    this.db.version(1).stores({ todos: 'id', outbox: '++seq', meta: 'key' });
    this.syncing = null;
    this.again = false;
  }

  async open() {
    await this.db.open();
    // one client id per tab (tabs share the IndexedDB replica, but each must
    // hear the others' pushes), kept across reloads of the tab
    this.clientId = sessionStorage.getItem('mana-client-id') || 'web-' + crypto.randomUUID();
    sessionStorage.setItem('mana-client-id', this.clientId);
    // other tabs of this browser write the same replica: show what they did
    this.tabs = new BroadcastChannel('mana-todo-' + (this.user || 'guest'));
    this.tabs.onmessage = () => this.dispatchEvent(new Event('change'));
    if (!this.user) {
      // a guest sees seed todos at once, kept on this device only
      if ((await this.db.todos.count()) === 0) {
        for (const t of ['Try adding a todo', 'Go offline and keep working', 'Sign in to sync'])
          await this.create(t, { local: true });
      }
      this.setState('local');
      return;
    }
    window.addEventListener('online', () => { this.connect(); this.sync(); });
    window.addEventListener('offline', () => { this.setState('offline'); this.ws && this.ws.close(); });
    this.connect();
    this.sync();
    setInterval(() => this.sync(), 15000);   // a safety net: the WebSocket says when
  }

  // ---------------------------------------------------------------- local edits

  stamp() {
    // this device's clock, never going backwards
    let s = new Date().toISOString();
    if (s <= this.lastStamp) s = new Date(Date.parse(this.lastStamp) + 1).toISOString();
    this.lastStamp = s;
    return s;
  }

  async rows() {
    const all = await this.db.todos.toArray();
    return all.filter(r => !r.deletedAt).sort((a, b) => (a.createdAt || '').localeCompare(b.createdAt || '') || a.id.localeCompare(b.id));
  }

  async pendingCount() { return this.db.outbox.count(); }

  async create(title, { local = false } = {}) {
    const at = this.stamp();
    const row = { id: crypto.randomUUID(), title, done: false, createdAt: at, deletedAt: null,
                  ts: { title: at, done: at, createdAt: at } };
    await this.db.transaction('rw', this.db.todos, this.db.outbox, async () => {
      await this.db.todos.put(row);
      if (!local) await this.db.outbox.add({ change: { table: COLLECTION, id: row.id, op: 'insert',
        data: { title, done: false, createdAt: at, updatedAt: at } } });
    });
    this.changed();
  }

  async edit(id, field, value) {
    const at = this.stamp();
    await this.db.transaction('rw', this.db.todos, this.db.outbox, async () => {
      const row = await this.db.todos.get(id);
      if (!row) return;
      row[field] = value;
      row.ts[field] = at;
      await this.db.todos.put(row);
      if (this.user) await this.db.outbox.add({ change: { table: COLLECTION, id, op: 'update',
        fields: { [field]: { value, at, updatedAt: at } } } });
    });
    this.changed();
  }

  async remove(id) {
    const at = this.stamp();
    await this.db.transaction('rw', this.db.todos, this.db.outbox, async () => {
      const row = await this.db.todos.get(id);
      if (!row) return;
      row.deletedAt = at;
      row.ts.deletedAt = at;
      await this.db.todos.put(row);
      if (this.user) await this.db.outbox.add({ change: { table: COLLECTION, id, op: 'delete', deletedAt: at } });
    });
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event('change'));
    if (this.tabs) this.tabs.postMessage('changed');
    if (this.user) {
      clearTimeout(this.pushTimer);
      this.pushTimer = setTimeout(() => this.sync(), 50);
    }
  }

  setState(s, detail) {
    this.state = s;
    this.detail = detail || '';
    this.dispatchEvent(new Event('status'));
  }

  // ---------------------------------------------------------------- server changes

  // merge one server change (op update with fields/data, or op delete) into the replica
  async applyServer(c) {
    if (c.table && c.table !== COLLECTION) return;
    const row = (await this.db.todos.get(c.id)) ||
      { id: c.id, title: '', done: false, createdAt: null, deletedAt: null, ts: {} };
    if (c.op === 'delete') {
      const at = c.deletedAt;
      if (wins(at, at, row.ts.deletedAt, row.deletedAt)) { row.deletedAt = at; row.ts.deletedAt = at; }
    } else {
      const fields = c.fields || {};
      for (const f of FIELDS) {
        const sf = fields[f];
        if (!sf) continue;
        const at = sf.at || sf.updatedAt;
        const value = sf.value === undefined ? null : sf.value;
        if (wins(at, value, row.ts[f], row[f])) { row[f] = value; row.ts[f] = at; }
      }
    }
    await this.db.todos.put(row);
  }

  async request(method, path, body) {
    const r = await fetch(this.api + path, {
      method,
      headers: Object.assign({ Authorization: 'Bearer ' + this.token, 'X-Client-Id': this.clientId },
                             body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((j && j.error) || ('HTTP ' + r.status));
    return j;
  }

  async cursor() { const c = await this.db.meta.get('cursor'); return c ? c.value : null; }

  async syncOnce() {
    // push what is pending
    const pending = await this.db.outbox.orderBy('seq').toArray();
    if (pending.length > 0) {
      const since = await this.cursor();
      const res = await this.request('POST', '/sync/' + this.app, {
        appId: this.app, clientId: this.clientId, since, changes: pending.map(p => p.change) });
      await this.db.transaction('rw', this.db.todos, this.db.outbox, this.db.meta, async () => {
        for (const c of res.serverChanges || []) await this.applyServer(c);
        await this.db.outbox.where('seq').belowOrEqual(pending[pending.length - 1].seq).delete();
        if (!res.hasMore) await this.db.meta.put({ key: 'cursor', value: res.syncedUntil });
      });
    }
    // pull until nothing more
    for (let page = 0; page < 100; page++) {
      const since = await this.cursor();
      const q = '?collection=' + COLLECTION + '&limit=500' + (since ? '&since=' + encodeURIComponent(since) : '');
      const res = await this.request('GET', '/sync/' + this.app + '/pull' + q);
      await this.db.transaction('rw', this.db.todos, this.db.meta, async () => {
        for (const c of res.serverChanges || []) await this.applyServer(c);
        await this.db.meta.put({ key: 'cursor', value: res.syncedUntil });
      });
      if (!res.hasMore) break;
    }
  }

  // one sync at a time; a request during one runs another right after
  async sync() {
    if (!this.user) return;
    if (this.syncing) { this.again = true; return this.syncing; }
    if (!navigator.onLine) { this.setState('offline'); return; }
    this.setState('syncing');
    this.syncing = (async () => {
      do {
        this.again = false;
        try {
          await this.syncOnce();
          this.setState('synced');
        } catch (e) {
          this.setState(navigator.onLine ? 'error' : 'offline', String(e.message || e));
          break;
        }
      } while (this.again);
      this.syncing = null;
      this.dispatchEvent(new Event('change'));
      if (this.tabs) this.tabs.postMessage('synced');
    })();
    return this.syncing;
  }

  // ---------------------------------------------------------------- push hints

  connect() {
    if (!this.user || !navigator.onLine) return;
    if (this.ws && this.ws.readyState <= 1) return;
    const ws = new WebSocket(this.wsUrl + '/ws/' + this.app + '?clientId=' + encodeURIComponent(this.clientId));
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: this.token, clientId: this.clientId }));
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (m.type === 'auth-ok') this.sync();              // anything missed while away
      else if (m.type === 'sync-available') this.sync();
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => this.connect(), 1000);
    };
  }
}
