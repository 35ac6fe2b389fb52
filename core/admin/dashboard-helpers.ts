/**
 * The dashboard's browser helpers, composed before core/admin/dashboard-script.ts in the
 * page's one inline script (core/admin/dashboard-page.ts): building elements, formatting
 * numbers, the run-time-change badges and the sparklines. Top-level names here are seen by
 * the script.
 */

// Plain JS for the browser. No backticks or dollar-brace in here: it lives in a template literal.
export const HELPERS = String.raw`
const SVG = 'http://www.w3.org/2000/svg', SAMPLES = 60;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
// A key's own value in an object from the API (a name like "constructor" is no inherited hit).
const own = (o, k) => (o && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
const num = (n) => (typeof n === 'number' && isFinite(n) ? n : 0);
const int = (n) => Math.round(num(n)).toLocaleString('en');
const rate = (n) => { n = num(n); return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); };
function bytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0; n = num(n);
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i];
}
function uptime(s) {
  s = Math.floor(num(s));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d > 0 ? d + 'd ' + h + 'h' : h > 0 ? h + 'h ' + m + 'm' : m + 'm ' + (s % 60) + 's';
}

// A run-time-change badge: data-runtime="<kind>" and its text while a change is in force;
// no attribute and hidden when none is (so [data-runtime] matches only changes in force).
const KEPT = 'Changed through the admin API: kept across restarts until the config file changes the same thing.';
function runtimeBadge() { return el('span', { class: 'runtime', title: KEPT, hidden: '' }); }
function mark(e, kind, text) {
  if (kind) e.setAttribute('data-runtime', kind); else e.removeAttribute('data-runtime');
  e.textContent = kind ? text : '';
  e.hidden = !kind;
}

// A sparkline: the last SAMPLES values, newest at the right, scaled to the largest shown.
function push(list, value) { list.push(value); if (list.length > SAMPLES) list.shift(); }
function chart(kind, label) {
  const root = el('figure'), value = el('span');
  const cap = el('figcaption'); cap.append(el('span', {}, label), value);
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, x] of [['viewBox', '0 0 120 38'], ['preserveAspectRatio', 'none'], ['data-chart', kind], ['role', 'img'], ['aria-label', label]]) svg.setAttribute(k, x);
  svg.append(Object.assign(document.createElementNS(SVG, 'title'), { textContent: label + ': the last ' + SAMPLES + ' samples, one a second' }));
  const area = document.createElementNS(SVG, 'path'), line = document.createElementNS(SVG, 'path');
  area.setAttribute('class', 'area'); line.setAttribute('class', 'line');
  svg.append(area, line); root.append(cap, svg);
  return { root, svg, area, line, value };
}
function draw(c, samples, format) {
  const max = Math.max(0, ...samples), top = max > 0 ? max : 1, step = 120 / (SAMPLES - 1);
  const x0 = 120 - (samples.length - 1) * step;
  const pts = samples.map((v, i) => (x0 + i * step).toFixed(1) + ' ' + (36 - (v / top) * 33).toFixed(1));
  const d = pts.length > 0 ? 'M' + pts.join(' L') : '';
  c.line.setAttribute('d', d);
  c.area.setAttribute('d', pts.length > 1 ? d + ' L120 38 L' + x0.toFixed(1) + ' 38 Z' : '');
  const last = samples.length > 0 ? samples[samples.length - 1] : 0;
  c.svg.setAttribute('data-samples', String(samples.length));
  c.svg.setAttribute('data-last', String(last));
  c.svg.setAttribute('data-max', String(max));
  c.value.textContent = format(last) + ' · max ' + format(max);
}
`;
