/**
 * Properties of core/config-validate.ts validateConfig, the parser of the user's config
 * (and, through its node check, of nodes the admin API adds). fast-check with a fixed seed
 * (FC_SEED overrides it; a failure prints the seed and path to replay) and bounded runs.
 * - Whatever it is given, it returns a config or throws PB_ERR_CONFIG_INVALID, whose every
 *   problem is one line that starts with the path of the field it is about.
 * - A valid config, printed back as a config, validates to the same config (round trip).
 * - Any field of a valid config spoiled is reported at that field's path.
 * The plain tests at the end are the bugs these properties found, kept as regressions.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { checkConfig, fuzz, unresolve } from '../../bench/fuzz/config.ts';
import { formatHostPort, formatPortRange } from '../../core/address.ts';
import { validateConfig } from '../../core/config-validate.ts';

const SEED = Number(process.env.FC_SEED ?? 20_240_612);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });
const SOURCE = '/etc/pb/protobalance.config.ts';
delete process.env.PB_HASH_SECRET; // a secret from the environment would not round-trip

/** Validates `raw`: a config, or PB_ERR_CONFIG_INVALID of one-line problems that each start with a
 * field path (anything else thrown fails the property); a valid config must round-trip. */
const outcome = checkConfig;

// ─── valid configs ───────────────────────────────────────────────────────────

const name = fc.stringMatching(/^[A-Za-z0-9][\w.-]{0,8}$/);
const port = fc.integer({ min: 1, max: 65535 });
const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain(), fc.constantFrom('localhost', 'node_1.internal.'));
const ms = fc.nat({ max: 24 * 86_400_000 });
const duration = fc.oneof(ms, ms.map(String), fc.nat({ max: 500 }).chain((n) => fc.constantFrom(`${n}ms`, `${n}s`, `${n}m`, `${n}h`, `${n % 24}d`)));
const interval = fc.integer({ min: 100, max: 86_400_000 });
const probe = fc.oneof(
  fc.record({ tcp: fc.tuple(host, port).map(([h, p]) => formatHostPort({ host: h, port: p })), interval, timeout: ms }, { requiredKeys: ['tcp'] }),
  fc.record({ url: fc.tuple(fc.ipV4(), port).map(([h, p]) => `http://${h}:${p}/load`), metric: name }, { requiredKeys: ['url'] }),
);

/** Nodes with unique ids; a node falls over only to a later one, so there is no cycle. */
function nodes(withPort: boolean) {
  return fc.uniqueArray(name, { minLength: 1, maxLength: 4 }).chain((ids) =>
    fc.tuple(
      ...ids.map((id, i) =>
        fc.record(
          {
            id: fc.constant(id),
            address: fc.tuple(host, withPort ? port : fc.option(port, { nil: undefined })).map(([h, p]) => formatHostPort({ host: h, port: p })),
            loadFactor: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0.001, max: 1000, noNaN: true })),
            fallover: i + 1 < ids.length ? fc.constantFrom(...ids.slice(i + 1)) : fc.constant(undefined),
            connectTimeout: duration,
            probe,
          },
          { requiredKeys: ['id', 'address'] },
        ),
      ),
    ),
  );
}

/** Where affinity bindings (or a fleet's state) live. */
const redisUrl = fc.oneof(
  fc.tuple(fc.constantFrom('redis', 'rediss'), fc.oneof(fc.ipV4(), fc.constant('redis.internal')), port, fc.nat({ max: 15 })).map(([scheme, host, p, db]) => `${scheme}://${host}:${p}/${db}`),
  fc.constant('sqlite'),
);

const cluster = (withPort: boolean, later: string[]) =>
  fc.record(
    {
      balance: fc.constantFrom('round-robin', 'random', 'client-hash', 'connection-rate'),
      hashSecret: fc.string({ minLength: 1, maxLength: 12 }),
      affinity: fc.record({ enabled: fc.boolean(), ttl: fc.oneof(duration, fc.constant('30d')), maxEntries: fc.integer({ min: 1, max: 1e6 }), store: redisUrl }, { requiredKeys: [] }),
      fallover: later.length > 0 ? fc.constantFrom(...later) : fc.constant(undefined),
      connectTimeout: duration,
      healthCheck: fc.record({ interval, timeout: fc.integer({ min: 1, max: 1e6 }), send: fc.string({ minLength: 1 }), expect: fc.string({ minLength: 1 }), rise: fc.integer({ min: 1, max: 9 }), fall: fc.integer({ min: 1, max: 9 }) }, { requiredKeys: [] }),
      nodes: nodes(withPort),
    },
    { requiredKeys: ['nodes'] },
  );

/** A valid config: every listener on a range, or every node with a port. */
const validConfig = fc.tuple(fc.uniqueArray(name, { minLength: 1, maxLength: 3 }), fc.boolean()).chain(([names, ranged]) =>
  fc.record(
    {
      listeners: fc.uniqueArray(
        fc.record({
          name,
          port: ranged ? fc.tuple(fc.integer({ min: 1, max: 65534 }), fc.nat({ max: 50 })).map(([p, n]) => formatPortRange({ from: p, to: Math.min(65535, p + n + 1) })) : fc.oneof(port, fc.constant(0)),
          host: fc.oneof(fc.ipV4(), fc.constant('::')),
          cluster: fc.constantFrom(...names),
        }, { requiredKeys: ['port', 'cluster', 'name'] }),
        { minLength: 1, maxLength: 3, selector: (l) => l.name },
      ),
      clusters: fc.tuple(...names.map((_, i) => cluster(!ranged, names.slice(i + 1)))).map((cs) => Object.fromEntries(cs.map((c, i) => [names[i]!, c]))),
      connectTimeout: duration,
      retryInterval: duration,
      drainTimeout: duration,
      idleTimeout: duration,
      rateWindow: duration,
      sandbox: fc.record({ cpuTimeout: fc.integer({ min: 1, max: 1000 }), memoryLimit: fc.integer({ min: 8, max: 512 }), maxFailures: fc.integer({ min: 1, max: 9 }) }, { requiredKeys: [] }),
      watch: fc.boolean(),
      stateDir: fc.constantFrom('./state', '/var/lib/pb', 'x'),
      admin: fc.oneof(fc.constant(false as const), fc.record({ host: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }), token: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1 }) }, { requiredKeys: [] })),
      log: fc.record({ level: fc.constantFrom('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'), access: fc.boolean() }, { requiredKeys: [] }),
      workers: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constant('auto')),
      dataPath: fc.constantFrom('auto', 'fast', 'net'),
      affinity: fc.record({ store: redisUrl, ttl: duration, maxEntries: fc.integer({ min: 1, max: 1e6 }) }, { requiredKeys: [] }),
      fleet: fc.record({ redis: redisUrl.filter((u) => u !== 'sqlite'), name, member: name }, { requiredKeys: ['redis', 'name'] }),
    },
    { requiredKeys: ['listeners', 'clusters'] },
  ),
);

/** The config's leaves and branches, as paths of keys and indexes (the root excluded). */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [];
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [[...at, k], ...paths(v, [...at, k])]);
}

/** A path as problems print it: `.key`, `[0]`, or `["key"]` for a key of other characters. */
const shown = (path: readonly (string | number)[]) =>
  path.map((k, i) => (typeof k === 'number' ? `[${k}]` : !/^[\w-]+(?:\.[\w-]+)*$/.test(k) ? `[${JSON.stringify(k)}]` : i === 0 ? k : `.${k}`)).join('');

function setAt(root: unknown, path: readonly (string | number)[], value: unknown, remove = false): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (Array.isArray(at) && typeof last !== 'number') at.push(value); // a key added to a list: one more item
  else if (remove && Array.isArray(at)) at.splice(Number(last), 1);
  else if (remove) delete at[last];
  else at[last] = value;
  return copy;
}

const never = suite('config: throws nothing but PB_ERR_CONFIG_INVALID, each line naming a field');

never('arbitrary JSON values', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (raw) => void outcome(raw)), runs(1500));
});

never('objects with the config\'s keys and arbitrary values', () => {
  const keys = ['listeners', 'clusters', 'connectTimeout', 'admin', 'sandbox', 'log', 'workers', 'plugins', 'watch', 'stateDir', 'dataPath', '__proto__', 'constructor'];
  const anyValue = fc.jsonValue({ maxDepth: 3 });
  fc.assert(fc.property(fc.dictionary(fc.constantFrom(...keys), anyValue), (raw) => void outcome(raw)), runs(1500));
});

never('JSON text parsed, prototype keys and odd names included', () => {
  const key = fc.oneof(name, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'a\nb', 'x: y', 'a\u2028b', 'k'.repeat(200)));
  const node = fc.record({ id: key, address: fc.oneof(fc.string(), fc.constantFrom('10.0.0.1:80', '[::1]:80')), fallover: key }, { requiredKeys: [] });
  const config = fc.record({
    listeners: fc.array(fc.record({ port: fc.oneof(port, fc.string()), cluster: key, name: key }, { requiredKeys: [] }), { maxLength: 3 }),
    clusters: fc.dictionary(key, fc.record({ fallover: key, nodes: fc.array(node, { maxLength: 3 }) }, { requiredKeys: [] }), { maxKeys: 3 }),
  }, { requiredKeys: [] });
  fc.assert(fc.property(config, (c) => void outcome(JSON.parse(JSON.stringify(c)))), runs(1500));
});

const valid = suite('config: valid configs are taken and round-trip');

valid('a generated valid config validates', () => {
  fc.assert(fc.property(validConfig, (raw) => {
    const o = outcome(raw);
    if (!o.ok) throw new Error(o.lines.join('\n'));
  }), runs(300));
});

valid('printed back as a config, it validates to the same config', () => {
  fc.assert(fc.property(validConfig, (raw) => {
    const first = validateConfig(raw, SOURCE);
    assert.equal(validateConfig(unresolve(first), SOURCE), first);
  }), runs(300));
});

const spoiled = suite('config: a spoiled field is reported at its path');

spoiled('any field of a valid config set to junk is named', () => {
  const junk = fc.constantFrom<unknown>(null, [], { zz: 1 }, -1.5, 'x y');
  /** Fields where any non-empty string goes (a balance name is checked when the algorithm loads). */
  const anyText = /^(hashSecret|send|expect|token|metric|balance|stateDir)$/;
  fc.assert(fc.property(validConfig, fc.nat(), junk, (raw, pick, value) => {
    const all = paths(raw);
    const path = all[pick % all.length]!;
    const at = shown(path);
    const o = outcome(setAt(raw, path, value));
    if (o.ok) {
      if (value === 'x y' && (anyText.test(String(path[path.length - 1])) || at === 'admin.host')) return;
      throw new Error(`${at} = ${JSON.stringify(value)} was taken`);
    }
    if (!o.lines.some((l) => l.startsWith(at))) throw new Error(`${at} = ${JSON.stringify(value)}: no problem names it:\n${o.lines.join('\n')}`);
  }), runs(1000));
});

spoiled('random mutations: removed fields, replaced values, extra keys', () => {
  const mutation = fc.tuple(fc.nat(), fc.constantFrom('remove', 'replace', 'add'), fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 6 }));
  fc.assert(fc.property(validConfig, fc.array(mutation, { minLength: 1, maxLength: 4 }), (raw, ms) => {
    let config: unknown = raw;
    for (const [pick, kind, value, key] of ms) {
      const all = paths(config);
      if (all.length === 0) break;
      const path = all[pick % all.length]!;
      config = kind === 'add' ? setAt(config, [...path.slice(0, -1), key], value) : setAt(config, path, value, kind === 'remove');
    }
    outcome(config);
  }), runs(600));
});

const found = suite('config: bugs the properties found (regressions)');

const base = (): Record<string, unknown> => ({
  listeners: [{ port: 8080, cluster: 'web' }],
  clusters: { web: { nodes: [{ id: 'a', address: '10.0.0.1:80' }] } },
});

/** The problems validation reports for `raw` (each checked by `outcome`). */
function problems(raw: unknown): readonly string[] {
  const o = outcome(raw);
  if (o.ok) throw new Error('expected the config to be refused');
  return o.lines;
}

found('a name Object.prototype has is no cluster: toString, constructor', () => {
  assert.equal(problems({ ...base(), listeners: [{ port: 80, cluster: 'toString' }] }), ['listeners[0].cluster: no cluster "toString" (clusters: web)']);
  const c = base();
  (c.clusters as { web: Record<string, unknown> }).web.fallover = 'constructor';
  assert.equal(problems(c), ['clusters.web.fallover: no cluster "constructor" (clusters: web)']);
});

found('a key of odd characters is quoted in the path, so a problem stays one line', () => {
  assert.equal(problems({ ...base(), admin: { '': 0 } }), ['admin[""]: unknown field (known: host, port, token)']);
  const lines = problems({ ...base(), clusters: { 'a\nb': { fallover: 'a\nb', nodes: [{ id: 'x', address: '10.0.0.1:80' }] } }, listeners: [{ port: 1, cluster: 'a\nb' }] });
  assert.ok(lines.includes('clusters["a\\nb"]: a cluster name must be 1-128 letters, digits, ".", "_" or "-" (the first a letter or digit)'), lines.join('\n'));
  assert.ok(lines.includes('clusters: fall-over clusters form a cycle: "a\\nb" -> "a\\nb"'), lines.join('\n'));
});

found('a long value is cut short in a problem, and a long list of names too', () => {
  const c = base();
  (c.clusters as { web: { nodes: { id: string }[] } }).web.nodes[0]!.id = 'a'.repeat(60_000);
  const [line] = problems(c);
  assert.ok(line!.length < 300 && line!.endsWith('… (60000 characters)'), line);
  const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`c${i}`, { nodes: [{ id: 'a', address: '10.0.0.1:80' }] }]));
  const [missing] = problems({ listeners: [{ port: 80, cluster: 'nope' }], clusters: many });
  assert.is(missing, 'listeners[0].cluster: no cluster "nope" (clusters: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, … (500 in all))');
});

found('a load factor of null is refused, not taken as the default', () => {
  const c = base();
  (c.clusters as { web: { nodes: Record<string, unknown>[] } }).web.nodes[0]!.loadFactor = null;
  assert.equal(problems(c), ['clusters.web.nodes[0].loadFactor: expected a number greater than 0, got null']);
});

found('a timeout longer than a Node timer keeps (24 days) is refused; an affinity ttl is no timer', () => {
  assert.equal(problems({ ...base(), connectTimeout: '25d' }), ['connectTimeout: expected a duration of at most "24d", got "25d"']);
  const probe = base();
  (probe.clusters as { web: { nodes: Record<string, unknown>[] } }).web.nodes[0]!.probe = { tcp: '10.0.0.1:9', interval: '30d' };
  assert.equal(problems(probe), ['clusters.web.nodes[0].probe.interval: expected a duration of at most "24d", got "30d"']);
  const ttl = base();
  (ttl.clusters as { web: Record<string, unknown> }).web.affinity = { ttl: '365d' };
  assert.is(validateConfig(ttl).clusters.web!.affinity.ttl, 365 * 86_400_000);
  assert.is(validateConfig({ ...base(), connectTimeout: '24d' }).connectTimeout, 24 * 86_400_000);
});

found('a node address whose host is no IP address or host name is refused', () => {
  for (const address of ['300.1.1.1:80', '80:80', '10.0.0:80', `${'a'.repeat(64)}.example:80`, '-a.example:80', 'a..b:80', '[foo]:80', '[1.2.3.4]:80', 'a:b:c']) {
    const c = base();
    (c.clusters as { web: { nodes: Record<string, unknown>[] } }).web.nodes[0]!.address = address;
    const [line] = problems(c);
    assert.ok(line!.startsWith('clusters.web.nodes[0].address: expected "host:port"'), `${address}: ${line}`);
  }
});

found('listener names and hosts are checked; a range\'s own name is its plain text', () => {
  assert.equal(problems({ ...base(), listeners: [{ port: 80, cluster: 'web', name: 'a b' }] }), [
    'listeners[0].name: expected a name of 1-128 letters, digits, ".", "_" or "-" (the first a letter or digit), got "a b"',
  ]);
  assert.equal(problems({ ...base(), listeners: [{ port: 80, cluster: 'web', host: 'x y' }] }), [
    'listeners[0].host: expected an IP address or a host name (at most 253 characters, labels of 1-63 letters, digits, "_" or "-"), got "x y"',
  ]);
  const r = validateConfig({ listeners: [{ port: ' 50000 - 50010 ', cluster: 'ftp' }], clusters: { ftp: { nodes: [{ id: 'x', address: '10.0.0.7' }] } } });
  assert.is(r.listeners[0]!.name, '50000-50010');
});

found('a key too long to show whole is cut inside its quotes, so the path stays a path (found by bench/fuzz/config.ts)', () => {
  const key = `listen${'\u00eb'.repeat(140)}ers`;
  const [long] = problems({ ...base(), [key]: 1 });
  assert.ok(long!.startsWith(`[${JSON.stringify(`${key.slice(0, 128)}…`)}]: unknown field (known: listeners, `), long);
  const [line] = problems({ ...base(), 'a\u2028b': 1 });
  assert.ok(line!.startsWith('["a\\u2028b"]: unknown field (known: listeners, '), line);
  // The inputs as the coverage-guided fuzzer wrote them (crash-8a499ea8…, crash-8c8a8af7…).
  for (const b64 of [
    'eyJsaXN0ZW5lcnMiOlt7InBvcnRbIjo4MDgwLCJob3N0IjoiMC4wLjAuMCIsIiAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgY2x1c3RlciI6IndlYiJ9XSwiY2x1c3RlcnMiOnsid2ViIjp7Im5vZGVzIjpbeyJzcyI6Ils6OjFdOjQwIn1dfX19',
    'eyJsaXN0ZW7r6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vr6+vrZXJzIjpbeyJwb3J0WyI6ODA4MCwiaG9zdCI6IjAuLi8uLi9qYXpfemVyLjAuMC4wIiwiY2x1c3RlciI6IndlYiJ9XSwiY2x1c3RlcnMiOnsid2ViIjp7Im5vZGVzIjpbeyJpZCI6ImEiLCJAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBhZGRyZXNzIjoiMTAuMC4wLjE6ODAiLCJsb2FkRmFjdG9yIjoyLCJmYWxsb3ZlciI6ImIifSx7ImlkIjoiYiIsImFkZHJlc3MiOiJbOjoxXTA4OiJ9XX19fQ==',
  ]) {
    fuzz(Buffer.from(b64, 'base64'));
  }
});

never.run();
valid.run();
spoiled.run();
found.run();
