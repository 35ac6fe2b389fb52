/**
 * `GET /metrics` (core/admin/metrics.ts through core/admin/server.ts) against traffic we
 * know exactly, in a group of two processes so that every figure is a sum.
 *
 * The rig: cluster `c`, round robin, node `n0` an echo server, node `n1` a closed port
 * with `fallover: 'n0'` and load factor 2 (so it is the first pick of every process).
 * The retry interval is long: a process that met n1's failure never tries it again
 * during the test. So, per process that took at least one client: exactly one failure
 * on n1, which falls over to n0, and every connection ends on n0.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VERSION } from '../../core/version.ts';
import { startControlled } from '../helpers/admin.ts';
import { addr, closed, closeServer, connect, freePort, readAll, startEchoServer, withTimeout } from '../helpers/net.ts';

// ─── a small Prometheus text-format reader ──────────────────────────────────

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  samples: Sample[];
  /** `# TYPE` of each metric family. */
  types: Map<string, string>;
  help: Set<string>;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"[ \t]*(,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (!m) throw new Error(`bad labels at ${start} in: ${line}`);
    assert.not.ok(m[1]! in out, `label ${m[1]} twice in: ${line}`);
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    if (m[3] === '') break;
  }
  return out;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  if (!Number.isFinite(n) || text.trim() === '') throw new Error(`bad value ${JSON.stringify(text)}`);
  return n;
}

function parseMetrics(body: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Set<string>();
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (t) {
        assert.not.ok(types.has(t[1]!), `# TYPE of ${t[1]} twice`);
        types.set(t[1]!, t[2]!);
      }
      const h = /^# HELP (\S+) /.exec(line);
      if (h) help.add(h[1]!);
      continue;
    }
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value: parseValue(m[3]!) });
  }
  return { samples, types, help };
}

/** The one sample `name` whose labels are exactly `labels`. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = s.samples.filter((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
  assert.is(found.length, 1, `one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

const node = (id: string) => ({ cluster: 'c', node: id });

test('the reader: labels with escapes, values, comments; rejects what is not a sample', () => {
  const s = parseMetrics(
    '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1",y="q\\"uote\\\\ \\n"} 3\nb 2.5e3\nc{z="a,b"} NaN\n',
  );
  assert.equal(s.samples.map((x) => [x.name, x.labels, x.value]).slice(0, 2), [
    ['a_total', { x: '1', y: 'q"uote\\ \n' }, 3],
    ['b', {}, 2500],
  ]);
  assert.equal(s.samples[2]!.labels, { z: 'a,b' });
  assert.ok(Number.isNaN(s.samples[2]!.value));
  assert.is(s.types.get('a_total'), 'counter');
  assert.throws(() => parseMetrics('a b c d'));
  assert.throws(() => parseMetrics('a{x=1} 2'));
  assert.throws(() => parseMetrics('a 1x'));
});

// ─── the rig ────────────────────────────────────────────────────────────────

const COUNTERS = [
  'protobalance_node_connections_total',
  'protobalance_node_bytes_in_total',
  'protobalance_node_bytes_out_total',
  'protobalance_node_failures_total',
  'protobalance_node_fallovers_total',
  'protobalance_listener_accepted_total',
  'protobalance_listener_refused_total',
  'protobalance_listener_refusals_total',
];
const GAUGES = [
  'protobalance_info',
  'protobalance_config_generation',
  'protobalance_processes',
  'protobalance_node_active_connections',
  'protobalance_node_state',
  'protobalance_node_available',
  'protobalance_node_load_factor',
  'protobalance_node_load_factor_scale',
  'protobalance_node_connection_rate',
  'protobalance_node_byte_rate',
];

async function rig() {
  const echo = await startEchoServer();
  const port = await freePort();
  const dead = await freePort();
  const config = `export default {
  listeners: [{ name: 'front', port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: {
    c: {
      balance: 'round-robin',
      nodes: [
        { id: 'n0', address: '${addr(echo)}' },
        { id: 'n1', address: '127.0.0.1:${dead}', loadFactor: 2, fallover: 'n0' },
      ],
    },
  },
  retryInterval: '10m', connectTimeout: '2s',
  workers: 2, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`;
  const c = await startControlled(config);
  const url = `${c.origin}/metrics`;
  const scrape = async (): Promise<Scrape> => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${c.token}` } });
    assert.is(res.status, 200);
    return parseMetrics(await res.text());
  };
  /** Scrape until `ok` holds (or fail after a few seconds), and return that scrape. */
  const scrapeUntil = async (ok: (s: Scrape) => boolean, what: string): Promise<Scrape> => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const s = await scrape();
      if (ok(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    await c.stop();
    await closeServer(echo);
  };
  return { ...c, port, url, scrape, scrapeUntil, stop, echo };
}

/** One client: send `payload`, end, and read the whole echo. */
async function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  const socket = await connect(port);
  socket.end(payload);
  return withTimeout(readAll(socket), 5_000, 'the echo');
}

/** A client the balancer turns away: it is closed without a byte. */
async function turnedAway(port: number): Promise<void> {
  const socket = await connect(port);
  const data: Buffer[] = [];
  socket.on('data', (c: Buffer) => data.push(c));
  await withTimeout(closed(socket), 5_000, 'the refused client to be closed');
  assert.is(Buffer.concat(data).length, 0, 'nothing reached the refused client');
}

const K = 12;
const SIZE = 3000;
const REFUSED = 16;

// ─── the tests ──────────────────────────────────────────────────────────────

test('/metrics: 401 without a good token; text/plain with one', async () => {
  const r = await rig();
  try {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: r.token }] as Record<string, string>[]) {
      const res = await fetch(r.url, { headers });
      assert.is(res.status, 401, JSON.stringify(headers));
      assert.not.match(await res.text(), 'protobalance_', 'no figures without the token');
    }
    const res = await fetch(r.url, { headers: { authorization: `Bearer ${r.token}` } });
    assert.is(res.status, 200);
    assert.ok(res.headers.get('content-type')?.startsWith('text/plain'), String(res.headers.get('content-type')));
    await res.text();
  } finally {
    await r.stop();
  }
});

test('/metrics: counters, states and listener counts summed over two processes match known traffic', async () => {
  const r = await rig();
  try {
    const fresh = await r.scrape();
    for (const name of COUNTERS) assert.is(fresh.types.get(name), 'counter', `# TYPE of ${name}`);
    for (const name of GAUGES) assert.is(fresh.types.get(name), 'gauge', `# TYPE of ${name}`);
    for (const name of [...COUNTERS, ...GAUGES]) assert.ok(fresh.help.has(name), `# HELP of ${name}`);
    for (const s of fresh.samples) assert.ok(fresh.types.has(s.name), `${s.name} has a # TYPE`);
    assert.is(value(fresh, 'protobalance_processes'), 2);
    assert.is(value(fresh, 'protobalance_config_generation'), r.group.generation.id);
    assert.is(value(fresh, 'protobalance_info', { version: VERSION }), 1);
    assert.is(value(fresh, 'protobalance_listener_accepted_total', { listener: 'front' }), 0);
    assert.is(value(fresh, 'protobalance_node_connections_total', node('n0')), 0);

    for (let i = 0; i < K; i++) {
      const payload = Buffer.alloc(SIZE, `conn ${i};`);
      const echoed = await echoThrough(r.port, payload);
      assert.ok(echoed.equals(payload), `connection ${i} echoed whole`);
    }
    const s = await r.scrapeUntil(
      (x) => value(x, 'protobalance_node_active_connections', node('n0')) === 0 && value(x, 'protobalance_node_connections_total', node('n0')) === K,
      'every connection to end',
    );
    // What each process did: each that was handed n1 (the group rotates as one, so a process
    // that took a single client may have been handed n0 only) met its failure once, marked it
    // unavailable and fell over.
    const byProcess = await r.group.statusByProcess();
    const took = byProcess.map((list) => list.find((n) => n.id === 'n0')!.totalConnections);
    const served = took.filter((n) => n > 0).length;
    assert.is(took.reduce((a, b) => a + b, 0), K, `connections per process: ${took.join(', ')}`);

    assert.is(value(s, 'protobalance_node_connections_total', node('n0')), K, 'every connection ends on n0');
    assert.is(value(s, 'protobalance_node_connections_total', node('n1')), 0);
    assert.is(value(s, 'protobalance_node_bytes_in_total', node('n0')), K * SIZE);
    assert.is(value(s, 'protobalance_node_bytes_out_total', node('n0')), K * SIZE);
    assert.is(value(s, 'protobalance_node_bytes_in_total', node('n1')), 0);
    assert.is(value(s, 'protobalance_node_bytes_out_total', node('n1')), 0);
    assert.is(value(s, 'protobalance_node_active_connections', node('n1')), 0);
    const failures = value(s, 'protobalance_node_failures_total', node('n1'));
    assert.ok(failures >= 1, 'n1 failed at least once');
    assert.ok(failures <= served, `at most one failure on n1 per process that took a client (per process: ${took.join(', ')}; failures ${failures})`);
    assert.is(value(s, 'protobalance_node_fallovers_total', node('n1')), failures, 'each failure fell over');
    assert.is(value(s, 'protobalance_node_failures_total', node('n0')), 0);
    assert.is(value(s, 'protobalance_node_fallovers_total', node('n0')), 0);
    assert.is(value(s, 'protobalance_listener_accepted_total', { listener: 'front' }), K);
    assert.is(value(s, 'protobalance_listener_refused_total', { listener: 'front' }), 0);
    assert.is(value(s, 'protobalance_node_available', node('n0')), 1);
    // Available when any process can reach it: 0 only once every process met the failure (each meets it at most once).
    assert.is(value(s, 'protobalance_node_available', node('n1')), failures === byProcess.length ? 0 : 1);
    assert.is(value(s, 'protobalance_node_load_factor', node('n0')), 1);
    assert.is(value(s, 'protobalance_node_load_factor', node('n1')), 2);
    for (const id of ['n0', 'n1']) {
      assert.equal(
        ['green', 'yellow', 'red'].map((state) => value(s, 'protobalance_node_state', { ...node(id), state })),
        [1, 0, 0],
        `${id} is green`,
      );
    }

    await r.group.setNodeState('c/n0', 'yellow');
    const yellow = await r.scrape();
    assert.equal(['green', 'yellow', 'red'].map((state) => value(yellow, 'protobalance_node_state', { ...node('n0'), state })), [0, 1, 0]);
    assert.is(value(yellow, 'protobalance_node_state', { ...node('n1'), state: 'green' }), 1);

    // n0 red: the client can only be tried on n1, which fails with nowhere to fall over to.
    await r.group.setNodeState('c/n0', 'red');
    await turnedAway(r.port);
    const red = await r.scrapeUntil((x) => value(x, 'protobalance_listener_refused_total', { listener: 'front' }) >= 1, 'the refusal');
    assert.equal(['green', 'yellow', 'red'].map((state) => value(red, 'protobalance_node_state', { ...node('n0'), state })), [0, 0, 1]);
    assert.is(value(red, 'protobalance_listener_refused_total', { listener: 'front' }), 1);
    assert.is(value(red, 'protobalance_listener_accepted_total', { listener: 'front' }), K + 1);
    assert.is(value(red, 'protobalance_node_failures_total', node('n1')), failures + 1, 'tried on n1 once more');
    assert.is(value(red, 'protobalance_node_fallovers_total', node('n1')), failures, 'but it fell over to nothing');
    assert.is(value(red, 'protobalance_node_connections_total', node('n0')), K);

    // Every node red: turned away without a dial. Several at once, so that (most likely)
    // both processes turn some away and the sum is exercised; the totals are exact anyway.
    await r.group.setNodeState('c/n1', 'red');
    await Promise.all(Array.from({ length: REFUSED }, () => turnedAway(r.port)));
    const allRed = await r.scrapeUntil(
      (x) => value(x, 'protobalance_listener_refused_total', { listener: 'front' }) >= 1 + REFUSED,
      'the refusals',
    );
    assert.is(value(allRed, 'protobalance_listener_refused_total', { listener: 'front' }), 1 + REFUSED);
    assert.is(value(allRed, 'protobalance_listener_accepted_total', { listener: 'front' }), K + 1 + REFUSED);
    assert.is(value(allRed, 'protobalance_node_failures_total', node('n1')), failures + 1, 'no dial');
    assert.is(value(allRed, 'protobalance_node_connections_total', node('n0')), K);
    assert.is(value(allRed, 'protobalance_node_bytes_in_total', node('n0')), K * SIZE);
    assert.is(value(allRed, 'protobalance_processes'), 2);
  } finally {
    await r.stop();
  }
});

test.run();
