/** The top-level affinity defaults and the fleet block: resolved values and the errors users see. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { validateConfig } from '../../core/index.ts';

const base = (extra: Record<string, unknown> = {}, affinity?: unknown) => ({
  listeners: [{ port: 0, cluster: 'web' }],
  clusters: {
    web: { nodes: [{ id: 'a', address: '127.0.0.1:1' }], ...(affinity === undefined ? {} : { affinity }) },
    local: { nodes: [{ id: 'b', address: '127.0.0.1:2' }], affinity: { store: 'sqlite' } },
  },
  ...extra,
});

function problem(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

test('a top-level affinity store, ttl and maxEntries are every cluster\'s defaults; it enables none', () => {
  const r = validateConfig(base({ affinity: { store: 'redis://10.0.0.5:6379/2', ttl: '1h', maxEntries: 50 } }, { enabled: true }));
  assert.equal(r.clusters.web!.affinity, { enabled: true, ttl: 3_600_000, maxEntries: 50, store: 'redis://10.0.0.5:6379/2' });
  // 'sqlite' keeps one cluster local; an affinity object alone enables it.
  assert.equal(r.clusters.local!.affinity, { enabled: true, ttl: 3_600_000, maxEntries: 50 });
  const off = validateConfig(base({ affinity: { store: 'redis://10.0.0.5:6379/2' } }));
  assert.is(off.clusters.web!.affinity.enabled, false);
});

test('a cluster\'s own fields beat the top level\'s', () => {
  const r = validateConfig(base({ affinity: { store: 'redis://h:1/0', ttl: '1h' } }, { ttl: '5m', store: 'redis://other:2/1' }));
  assert.equal(r.clusters.web!.affinity, { enabled: true, ttl: 300_000, maxEntries: 100_000, store: 'redis://other:2/1' });
});

test('bad affinity defaults name the field', () => {
  assert.match(problem(base({ affinity: { store: 'http://h' } })), "affinity.store: expected a redis:// URL ('redis://host:port/db') or 'sqlite', got \"http://h\"");
  assert.match(problem(base({ affinity: { enabled: true } })), 'affinity.enabled: unknown field (known: store, ttl, maxEntries)');
  assert.match(problem(base({ affinity: 'redis://h' })), 'affinity: expected an object { store, ttl, maxEntries }');
  assert.match(problem(base({ affinity: { maxEntries: 0 } })), 'affinity.maxEntries: expected a whole number of at least 1, got 0');
  assert.match(problem(base({}, { store: 'mysql://x' })), 'clusters.web.affinity.store: expected a redis:// URL');
});

test('fleet: redis and name are required; the member defaults to host and process', () => {
  const r = validateConfig(base({ fleet: { redis: 'redis://127.0.0.1:6379/0', name: 'edge' } }));
  assert.is(r.fleet!.name, 'edge');
  assert.is(r.fleet!.redis, 'redis://127.0.0.1:6379/0');
  assert.ok(r.fleet!.member.endsWith(`-${process.pid}`), r.fleet!.member);
  assert.is(validateConfig(base({ fleet: { redis: 'redis://h:1/0', name: 'edge', member: 'lb-1' } })).fleet!.member, 'lb-1');
  assert.is(validateConfig(base()).fleet, undefined);
});

test('bad fleet fields name the field', () => {
  assert.match(problem(base({ fleet: { name: 'edge' } })), "fleet.redis: expected a redis:// URL ('redis://host:port/db'), got nothing");
  assert.match(problem(base({ fleet: { redis: 'redis://h:1/0' } })), "fleet.name: expected a name of 1-128");
  assert.match(problem(base({ fleet: { redis: 'redis://h:1/0', name: 'a b' } })), 'fleet.name: expected a name');
  assert.match(problem(base({ fleet: { redis: 'redis://h:1/0', name: 'e', member: '' } })), 'fleet.member');
  assert.match(problem(base({ fleet: { redis: 'redis://h:1/0', name: 'e', colour: 'blue' } })), 'fleet.colour: unknown field');
  assert.match(problem(base({ fleet: true })), 'fleet: expected an object');
});

test.run();
