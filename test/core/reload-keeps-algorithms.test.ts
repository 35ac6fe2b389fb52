/**
 * A reload or runtime change rebuilds only what it touches: a cluster whose algorithm is
 * unchanged keeps its instance, and with it its state (a round robin goes on where it
 * was) and its isolate; a cluster whose algorithm changed gets a new one, and the old
 * one is released. New sandbox limits make every instance anew.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBalancer, createInProcessRunner, createSandboxRunner, type AlgorithmRunner, type Balancer, type Config, type ResolvedConfig } from '../../core/index.ts';
import { builtinPlugins } from '../helpers/assembly.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { testClient } from '../helpers/views.ts';

const test = suite('reloads keep the algorithms of unchanged clusters');

/** A runner that counts what it makes and releases. */
function counting(make: (c: ResolvedConfig) => AlgorithmRunner) {
  const counts = { runners: 0, created: 0, released: 0, disposed: 0 };
  const createRunner = (c: ResolvedConfig): AlgorithmRunner => {
    counts.runners++;
    const inner = make(c);
    return {
      create: async (...args) => (counts.created++, inner.create(...args)),
      identify: inner.identify?.bind(inner),
      identityOf: inner.identityOf?.bind(inner),
      release: (chooser) => (counts.released++, inner.release?.(chooser)),
      dispose: () => (counts.disposed++, inner.dispose()),
    };
  };
  return { counts, createRunner };
}

const clusters = (n: number, extra: Record<string, Config['clusters'][string]> = {}): Config['clusters'] => ({
  ...Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`c${i}`, { nodes: ['a', 'b', 'c'].map((id, j) => ({ id, address: `127.0.0.1:${2000 + j}` })) }]),
  ),
  ...extra,
});

const config = (cs: Config['clusters'], sandbox?: Config['sandbox']): Config => ({
  listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c0' }],
  clusters: cs,
  stateDir: tmpDir(),
  ...(sandbox ? { sandbox } : {}),
});

/**
 * `count` picks of cluster `name`'s algorithm among all its nodes, asked of the instance
 * itself (waiting up to its time limit): the guard's 5 ms deadline would let a loaded
 * machine's late answers be made by the fallback rotation instead.
 */
function picks(b: Balancer, name: string, count: number): string[] {
  const c = b.generation.clusters.get(name)!;
  const raw = b.generation.instances.get(name)!.raw;
  return Array.from({ length: count }, () => raw.pick(c.nodes, testClient)!);
}

test('sandboxed: a round robin goes on where it was across a reload of another cluster; the changed cluster starts anew', async () => {
  const { counts, createRunner } = counting((c) => createSandboxRunner({ ...c.sandbox, baseDir: c.baseDir }));
  const b = createBalancer(config(clusters(4)), { logger: recordingLogger(), builtins: builtinPlugins(), createRunner });
  await b.start();
  try {
    assert.equal(picks(b, 'c1', 2), ['a', 'b']);
    const before = b.generation.clusters.get('c1')!.chooser;
    assert.is(counts.created, 4);
    // c2 changes its algorithm; c3 gets a node more (its algorithm is the same).
    const next = clusters(4, { c2: { balance: 'random', nodes: [{ id: 'x', address: '127.0.0.1:2100' }] } });
    next.c3!.nodes.push({ id: 'd', address: '127.0.0.1:2003' });
    await b.reload(config(next));
    assert.is(b.generation.clusters.get('c1')!.chooser, before, 'the same instance');
    assert.equal(picks(b, 'c1', 2), ['c', 'a'], 'the rotation goes on');
    assert.is(counts.created, 5, 'only c2 made anew');
    assert.is(counts.released, 1, "c2's old instance released");
    assert.equal(picks(b, 'c3', 4).sort(), ['a', 'b', 'c', 'd'], 'c3 rotates over its new node too');
    // New sandbox limits: a new runner, every instance anew, the old runner gone.
    await b.reload(config(next, { cpuTimeout: 40 }));
    assert.is(counts.runners, 2);
    assert.is(counts.created, 9);
    assert.is(counts.disposed, 1);
    assert.equal(picks(b, 'c1', 1), ['a'], 'a new instance starts over');
  } finally {
    await b.stop(0);
  }
  assert.is(counts.created - counts.released >= 0, true);
});

test('500 clusters: a reload touching one makes one instance, and the other 499 keep their state', async () => {
  const { counts, createRunner } = counting(() => createInProcessRunner());
  const b = createBalancer(config(clusters(500)), { logger: recordingLogger(), builtins: builtinPlugins(), createRunner });
  await b.start();
  try {
    for (const name of ['c7', 'c250', 'c499']) assert.equal(picks(b, name, 1), ['a']);
    assert.is(counts.created, 500);
    await b.reload(config(clusters(500, { c42: { balance: 'random', nodes: [{ id: 'z', address: '127.0.0.1:2200' }] } })));
    assert.is(counts.created, 501);
    assert.is(counts.released, 1);
    for (const name of ['c7', 'c250', 'c499']) assert.equal(picks(b, name, 1), ['b'], `${name} goes on`);
    // A runtime change (a load factor) rebuilds nothing either.
    await b.applyChanges({ factors: { 'c7/a': { factor: 2, file: 1 } }, routes: {}, added: {}, removed: {} });
    assert.is(counts.created, 501);
    assert.equal(picks(b, 'c250', 1), ['c']);
  } finally {
    await b.stop(0);
  }
  assert.is(counts.released, 501, 'every instance released at stop');
});

test('a reload that fails releases the instances it made and keeps the serving ones', async () => {
  const { counts, createRunner } = counting((c) => createSandboxRunner({ ...c.sandbox, baseDir: c.baseDir }));
  const b = createBalancer(config(clusters(2)), { logger: recordingLogger(), builtins: builtinPlugins(), createRunner });
  await b.start();
  try {
    assert.equal(picks(b, 'c0', 1), ['a']);
    const bad = clusters(3, { c2: { balance: 'no-such-algorithm', nodes: [{ id: 'q', address: '127.0.0.1:2300' }] } });
    await b.reload(config(bad)).then(
      () => assert.unreachable('the reload must fail'),
      (err: Error) => assert.match(err.message, 'unknown algorithm "no-such-algorithm"'),
    );
    assert.is(counts.created, 2, 'c0 and c1 were carried, not made');
    assert.equal(picks(b, 'c0', 1), ['b'], 'the serving instance goes on');
  } finally {
    await b.stop(0);
  }
  assert.is(counts.released, 2);
});

test.run();
