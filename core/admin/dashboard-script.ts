/**
 * The dashboard's browser script (core/admin/dashboard-page.ts has the contract: token in
 * sessionStorage, /api/status every second, textContent only, the data-* hooks tests use).
 * It runs after core/admin/dashboard-helpers.ts in the same inline script and uses its
 * helpers ($, el, own, num, int, rate, bytes, uptime, mark, chart, draw, push).
 */

// Plain JS for the browser. No backticks or dollar-brace in here: it lives in a template literal.
export const SCRIPT = String.raw`
const KEY = 'protobalance.adminToken', EVERY = 1000, STATES = ['green', 'yellow', 'red'];
const listeners = new Map(), clusters = new Map(), nodes = new Map(), series = new Map();
let session = 0, timer = 0, busy = false, again = false, messageFrom = '';
class SignedOut extends Error {}

const stateOf = (s) => (STATES.includes(s) ? s : 'unknown');

function say(text, kind, from) {
  messageFrom = from || '';
  $('message').className = kind;
  $('message-text').textContent = text;
  $('message').hidden = false;
}
function unsay(from) { if (from === undefined || messageFrom === from) $('message').hidden = true; }

// One request with a given token: { status, ok, data }; throws only when the network fails.
async function request(token, method, path, body) {
  const res = await fetch('/api' + path, {
    method, cache: 'no-store',
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch {}
  return { status: res.status, ok: res.ok, data };
}
// With the stored token: the JSON body, or an Error carrying the API's { error } text.
async function api(method, path, body) {
  const token = sessionStorage.getItem(KEY);
  if (!token) { ask(''); throw new SignedOut(); }
  const r = await request(token, method, path, body);
  if (r.status === 401) { ask('The balancer refused the stored token (401). Enter the admin token again.'); throw new SignedOut(); }
  if (!r.ok) throw new Error(r.data && typeof r.data.error === 'string' ? r.data.error : 'HTTP ' + r.status);
  return r.data;
}

// Signed out: forget the token and everything shown, stop polling, show the form.
function ask(why) {
  sessionStorage.removeItem(KEY);
  session++; clearTimeout(timer);
  for (const m of [listeners, clusters, nodes, series]) m.clear();
  $('listener-list').replaceChildren(); $('cluster-list').replaceChildren(); $('meta').textContent = '';
  $('board').hidden = true; $('sign-out').hidden = true; unsay();
  $('login').hidden = false; $('login-message').textContent = why;
  $('token').value = ''; $('token').focus();
}
function begin() {
  session++;
  $('login').hidden = true; $('login-message').textContent = '';
  $('board').hidden = false; $('sign-out').hidden = false;
  tick();
}

// The poll loop: one request at a time; a change asks for an immediate extra round.
async function tick() {
  clearTimeout(timer);
  if (busy) { again = true; return; }
  if (!sessionStorage.getItem(KEY)) return;
  busy = true;
  const mine = session;
  try {
    const status = await api('GET', '/status');
    if (mine === session) { render(status); unsay('poll'); }
  } catch (err) {
    if (!(err instanceof SignedOut) && mine === session) say('Cannot read the status: ' + err.message, 'error', 'poll');
  } finally { busy = false; }
  if (again) { again = false; return tick(); }
  if (mine === session) timer = setTimeout(tick, EVERY);
}

function render(s) {
  $('meta').textContent = 'v' + s.version + ' · generation ' + s.generation + ' · ' + s.processes + ' process' +
    (s.processes === 1 ? '' : 'es') + ' · data path ' + s.dataPath + ' · up ' + uptime(s.uptimeSeconds);
  const names = (s.clusters || []).map((c) => String(c.name)), rc = s.runtimeChanges || {};
  const byName = new Map();
  for (const l of s.listeners || []) {
    const name = String(l.listener);
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name).push(l);
  }
  sync(listeners, $('listener-list'), [...byName.keys()], makeListener, (v, name) => showListener(v, byName.get(name), names, own(rc.routes, name)));
  sync(clusters, $('cluster-list'), names, makeCluster, (v, name) => {
    const c = s.clusters.find((x) => String(x.name) === name);
    showCluster(v, c, Object.keys(rc.removed || {}).filter((k) => k.startsWith(name + '/')).map((k) => k.slice(name.length + 1)));
    sync(nodes, v.grid, (c.nodes || []).map((n) => String(n.key)), makeNode, (nv, key) =>
      showNode(nv, c.nodes.find((n) => String(n.key) === key), own(rc.factors, key), own(rc.added, key), num(s.generation)));
  });
  for (const [key, v] of nodes) if (!v.root.isConnected) nodes.delete(key); // its cluster went away
  for (const key of series.keys()) if (!nodes.has(key)) series.delete(key);
}

// Keep one element per key, in order, inside parent; update each in place so a focused
// control or an open select is not replaced under the operator's hand every second.
function sync(views, parent, keys, make, show) {
  const wanted = new Set(keys);
  for (const [k, v] of views) if (v.root.parentNode === parent && !wanted.has(k)) { v.root.remove(); views.delete(k); }
  keys.forEach((k, i) => {
    let v = views.get(k);
    if (!v) { v = make(k); views.set(k, v); }
    if (parent.children[i] !== v.root) parent.insertBefore(v.root, parent.children[i] || null);
    show(v, k);
  });
}

function makeListener(name) {
  const root = el('div', { class: 'listener', 'data-listener': name });
  const addr = el('span', { class: 'dim' }), counts = el('span', { class: 'dim' }), runtime = runtimeBadge();
  const select = el('select', { 'data-route': name, 'aria-label': 'Cluster for listener ' + name });
  const label = el('label', {}, 'cluster '); label.append(select);
  root.append(el('strong', {}, name), addr, label, runtime, counts);
  const v = { root, addr, counts, select, runtime, cluster: '', options: '' };
  select.addEventListener('change', () => route(name, v));
  return v;
}
function showListener(v, entries, names, route) {
  const first = entries[0], ports = entries.map((e) => num(e.port)).sort((a, b) => a - b);
  const contiguous = ports.every((p, i) => i === 0 || p === ports[i - 1] + 1);
  v.addr.textContent = String(first.host) + ':' + (ports.length === 1 ? ports[0] : contiguous ? ports[0] + '-' + ports[ports.length - 1] : ports.join(','));
  v.cluster = String(first.cluster);
  v.root.setAttribute('data-cluster', v.cluster);
  const known = names.includes(v.cluster) ? names : [v.cluster, ...names];
  if (v.options !== JSON.stringify(known)) {
    v.options = JSON.stringify(known);
    v.select.replaceChildren(...known.map((n) => el('option', { value: n }, n)));
  }
  if (!v.select.disabled && v.select.value !== v.cluster) v.select.value = v.cluster;
  mark(v.runtime, route ? 'route' : '', route ? 'set at run time; file says ' + String(route.file) : '');
  // The counts are the listener's (every port of a range carries the same ones), not per port.
  const count = (k) => (typeof first[k] === 'number' ? k + ' ' + int(first[k]) : '');
  v.counts.textContent = [count('accepted'), count('refused')].filter(Boolean).join(' · ');
}

function makeCluster(name) {
  const root = el('section', { 'data-cluster-name': name });
  const info = el('span', { class: 'dim' }), warn = el('span', { class: 'warn' }), removed = runtimeBadge();
  const h = el('h2', {}, 'cluster ' + name + ' '); h.append(info, ' ', removed, ' ', warn);
  const grid = el('div', { class: 'grid' });
  root.append(h, grid);
  return { root, info, warn, removed, grid };
}
function showCluster(v, c, removed) {
  mark(v.removed, removed.length > 0 ? 'removed' : '', 'removed at run time: ' + removed.join(', '));
  const a = c.algorithm || {};
  v.info.textContent = '· balance ' + (c.balance || 'round-robin') + (num(a.totalFailures) > 0 ? ' · algorithm failures ' + int(a.totalFailures) : '');
  v.warn.textContent = a.broken ? 'algorithm broken' + (a.lastError ? ': ' + a.lastError : '') : '';
}

const FIELDS = [['loadFactor', 'load factor'], ['active', 'active'], ['total', 'total'], ['failures', 'failures'],
  ['fallovers', 'fall-overs'], ['connRate', 'conn/s'], ['byteRate', 'bytes/s'], ['bytes', 'in / out']];
function makeNode(key) {
  const root = el('article', { class: 'node', 'data-node': key });
  const badge = el('span', { class: 'badge' }), name = el('strong'), addr = el('span', { class: 'dim' }), avail = el('span');
  const head = el('header'); head.append(badge, name, addr, avail);
  const dl = el('dl'), fields = {};
  for (const [k, label] of FIELDS) {
    const dt = el('dt', {}, label), dd = el('dd', { 'data-field': k });
    dl.append(dt, dd); fields[k] = { dt, dd };
  }
  const active = chart('active', 'active'), rate = chart('rate', 'conn/s');
  const charts = el('div', { class: 'charts' }); charts.append(active.root, rate.root);
  const runtime = runtimeBadge(); head.append(runtime);
  const controls = el('div', { class: 'controls', role: 'group', 'aria-label': 'Set the state of ' + key });
  const buttons = STATES.map((s) => el('button', { type: 'button', class: s, 'data-set-state': s }, s));
  const factor = el('input', { type: 'number', step: '0.1', min: '0.1', 'data-factor': key, 'aria-label': 'Load factor of ' + key });
  const setFactor = el('button', { type: 'button', 'data-set-factor': key }, 'Set');
  const factorGroup = el('span', { class: 'factor', role: 'group', 'aria-label': 'Set the load factor of ' + key });
  factorGroup.append(el('span', { class: 'dim' }, 'factor'), factor, setFactor);
  controls.append(...buttons, factorGroup);
  root.append(head, dl, charts, controls);
  // factorAt: the generation a set from this page made; older statuses do not reset the input.
  return { root, badge, name, addr, avail, fields, active, rate, buttons, runtime, factor, setFactor, loadFactor: 0, factorAt: 0, cluster: '', id: '' };
}
function showNode(v, n, factor, added, generation) {
  const state = stateOf(n.state);
  v.cluster = String(n.cluster); v.id = String(n.id);
  v.root.setAttribute('data-state', state);
  v.badge.textContent = state; v.name.textContent = v.id; v.addr.textContent = String(n.address);
  v.avail.textContent = n.available ? 'available' : 'unavailable';
  v.avail.className = n.available ? 'up' : 'down';
  for (const b of v.buttons) b.setAttribute('aria-pressed', String(b.getAttribute('data-set-state') === state));
  const f = v.fields, set = (k, text) => { f[k].dd.textContent = text; };
  v.loadFactor = num(n.loadFactor);
  // The input follows the balancer, except while the operator types in it or a set is on its way.
  if (document.activeElement !== v.factor && !v.setFactor.disabled && generation >= v.factorAt) v.factor.value = String(v.loadFactor);
  mark(v.runtime, factor ? 'factor' : added ? 'added' : '', factor ? 'set at run time; file says ' + num(factor.file) : 'added at run time');
  set('loadFactor', String(v.loadFactor)); set('active', int(n.activeConnections)); set('total', int(n.totalConnections));
  set('failures', int(n.failures)); set('connRate', rate(n.connectionRate)); set('byteRate', bytes(n.bytesRate));
  set('bytes', bytes(n.bytesIn) + ' / ' + bytes(n.bytesOut));
  const hasFallovers = typeof n.fallovers === 'number';
  f.fallovers.dt.hidden = f.fallovers.dd.hidden = !hasFallovers;
  if (hasFallovers) set('fallovers', int(n.fallovers));
  let h = series.get(n.key);
  if (!h) series.set(n.key, (h = { active: [], rate: [] }));
  push(h.active, num(n.activeConnections)); push(h.rate, num(n.connectionRate));
  draw(v.active, h.active, int); draw(v.rate, h.rate, rate);
}
// A change through the API: its answer (an object), or null when it failed (the message says why).
async function change(method, path, body, done, failed) {
  try { const data = await api(method, path, body); say(done, 'ok', 'change'); return data || {}; }
  catch (err) { if (!(err instanceof SignedOut)) say(failed + ': ' + err.message, 'error', 'change'); return null; }
  finally { tick(); }
}
async function route(name, v) {
  const cluster = v.select.value;
  v.select.disabled = true;
  const ok = await change('PUT', '/listeners/' + encodeURIComponent(name) + '/cluster', { cluster },
    'Listener ' + name + ' now sends new connections to cluster ' + cluster + '.', 'Could not point listener ' + name + ' at cluster ' + cluster);
  v.select.disabled = false;
  if (!ok) v.select.value = v.cluster;
}
// The factor as typed: a number when it reads as one, else the text, for the API to judge.
async function setFactor(v) {
  const raw = v.factor.value.trim(), factor = raw !== '' && isFinite(Number(raw)) ? Number(raw) : raw, key = v.cluster + '/' + v.id;
  v.setFactor.disabled = true;
  const data = await change('PUT', '/nodes/' + encodeURIComponent(v.cluster) + '/' + encodeURIComponent(v.id) + '/factor', { factor },
    'Node ' + key + ' now has load factor ' + raw + '.', 'Could not set the load factor of node ' + key + ' to ' + JSON.stringify(raw));
  v.setFactor.disabled = false;
  if (data) v.factorAt = num(data.generation);
  v.factor.value = String(data && typeof data.factor === 'number' ? data.factor : v.loadFactor);
}
const nodeOf = (e) => e && nodes.get(e.closest('[data-node]').getAttribute('data-node'));
$('cluster-list').addEventListener('keydown', (e) => {
  const v = e.key === 'Enter' && e.target.matches('input[data-factor]') && nodeOf(e.target);
  if (v && !v.setFactor.disabled) { e.preventDefault(); setFactor(v); }
});
$('cluster-list').addEventListener('click', (e) => {
  const factorButton = nodeOf(e.target.closest('[data-set-factor]'));
  if (factorButton) { setFactor(factorButton); return; }
  const button = e.target.closest('[data-set-state]');
  const v = nodeOf(button);
  if (!v) return;
  const state = button.getAttribute('data-set-state'), key = v.cluster + '/' + v.id;
  change('PUT', '/nodes/' + encodeURIComponent(v.cluster) + '/' + encodeURIComponent(v.id) + '/state', { state },
    'Node ' + key + ' is now ' + state + '.', 'Could not set node ' + key + ' ' + state);
});

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const token = $('token').value.trim(), button = $('login').querySelector('button');
  if (!token) return;
  button.disabled = true;
  $('login-message').textContent = '';
  try {
    const r = await request(token, 'GET', '/status');
    if (r.status === 401) { $('login-message').textContent = 'That token was refused (401). Check it and try again.'; $('token').select(); return; }
    if (!r.ok) { $('login-message').textContent = 'The balancer answered ' + r.status + ': ' + (r.data && r.data.error); return; }
    sessionStorage.setItem(KEY, token);
    $('token').value = '';
    begin();
  } catch (err) {
    $('login-message').textContent = 'Cannot reach the balancer: ' + err.message;
  } finally { button.disabled = false; }
});
$('sign-out').addEventListener('click', () => ask('Signed out. The token is forgotten.'));
$('message-close').addEventListener('click', () => unsay());
if (sessionStorage.getItem(KEY)) begin(); else ask('');
`;
