// app.js: the page.  ?user=alice or ?user=bob signs in with a development
// token from dev-tokens.json (written by scripts/demo.sh); no user: a guest
// whose todos stay on this device.
import { SyncStore } from './sync.js';

const params = new URLSearchParams(location.search);
const user = params.get('user');
// the sync server (the mana_sync worker); the page may be served elsewhere
const api = params.get('api') || 'http://127.0.0.1:3010';
const app = params.get('app') || 'todo';
const wsBase = api.replace(/^http/, 'ws');

async function token() {
  if (!user) return null;
  const r = await fetch('dev-tokens.json', { cache: 'no-store' });
  if (!r.ok) throw new Error('no dev-tokens.json: start the demo with scripts/demo.sh');
  const tokens = await r.json();
  if (!tokens[user]) throw new Error('no development token for ' + user);
  return tokens[user];
}

const $ = (id) => document.getElementById(id);

// one <li> per todo, kept across renders (keyed by id), so that a sync that
// lands while the user is typing never takes the text from under the caret
function item(store, id) {
  const li = document.createElement('li');
  li.dataset.id = id;
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.className = 'toggle';
  box.setAttribute('aria-label', 'done');
  box.addEventListener('change', () => store.edit(id, 'done', box.checked));
  const title = document.createElement('input');
  title.className = 'title';
  title.setAttribute('aria-label', 'title');
  title.addEventListener('change', () => store.edit(id, 'title', title.value));
  const del = document.createElement('button');
  del.className = 'delete';
  del.textContent = 'Delete';
  del.addEventListener('click', () => store.remove(id));
  li.append(box, title, del);
  return li;
}

async function render(store) {
  const rows = await store.rows();
  const list = $('list');
  const old = new Map([...list.children].map((li) => [li.dataset.id, li]));
  const lis = rows.map((r) => {
    const li = old.get(r.id) || item(store, r.id);
    li.className = r.done ? 'done' : '';
    li.querySelector('.toggle').checked = !!r.done;
    const title = li.querySelector('.title');
    if (document.activeElement !== title) title.value = r.title || '';
    title.setAttribute('value', r.title || '');   // findable by its stored text
    return li;
  });
  // reorder and drop without recreating: appending moves an existing node
  lis.forEach((li, i) => { if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null); });
  while (list.children.length > lis.length) list.lastChild.remove();
  const n = await store.pendingCount();
  $('pending').textContent = n + ' pending change' + (n === 1 ? '' : 's');
}

function showStatus(store) {
  const s = $('status');
  s.dataset.state = store.state;
  s.textContent = store.state + (store.detail && store.state === 'error' ? ': ' + store.detail : '');
}

async function main() {
  $('who').textContent = user ? 'signed in as ' + user : 'guest (this device only)';
  $('devnote').hidden = !user;
  let tok = null;
  try {
    tok = await token();
  } catch (e) {
    $('status').dataset.state = 'error';
    $('status').textContent = 'error: ' + e.message;
    return;
  }
  const store = new SyncStore({ user, token: tok, api, ws: wsBase, app });
  window.todoStore = store;   // for the end-to-end test and the console
  store.addEventListener('change', () => render(store));
  store.addEventListener('status', () => showStatus(store));
  $('add').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('new-title').value.trim();
    if (v) store.create(v);
    $('new-title').value = '';
  });
  await store.open();
  showStatus(store);
  await render(store);
}

main();
