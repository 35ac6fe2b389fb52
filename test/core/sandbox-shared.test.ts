/**
 * One isolate per algorithm module (+ policy file), one instance per cluster inside it
 * (issue 14): clusters share the isolate, never each other's candidates or options.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSandboxRunner } from '../../core/index.ts';
import { isDeferred, type CallResult, type DeferredChooser } from '../../core/algorithm-runner.ts';
import type { Chooser, NodeView } from '../../core/types.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { nodeView, testClient } from '../helpers/views.ts';

const ROUND_ROBIN = fileURLToPath(new URL('../../plugins/balancers/round-robin.ts', import.meta.url));
const MIN_LOAD = fileURLToPath(new URL('../../plugins/balancers/min-load.ts', import.meta.url));
const POLICY = (n: number) => `export default { name: 'p${n}', rate: (node) => node.activeConnections * ${n} };\n`;

/** Answers what it sees: its cluster option and its candidates' ids. */
const SEER = `export default { name: 'seer', create(o) { let calls = 0; return { pick(nodes) { calls++; return o.cluster + ':' + nodes.map((n) => n.id).join(',') + ':' + calls; } }; } };`;

/** Runs out of memory when a candidate has 7 active connections; else counts its calls. */
const BOMB = `export default { name: 'b', create(o) { let calls = 0; return { pick(nodes) {
  calls++;
  if (nodes[0].activeConnections === 7) { const keep = []; for (;;) keep.push(new Array(1e6).fill(calls)); }
  return o.cluster + calls;
} }; } };`;

async function ask(chooser: Chooser, among: readonly NodeView[]): Promise<CallResult> {
  assert.ok(isDeferred(chooser));
  const r = (chooser as DeferredChooser).request(among, testClient, 0);
  return r.now ?? (await r.later!);
}
const idOf = (res: CallResult) => (res.ok ? res.id : res.error);

const test = suite('sandbox: isolates shared per module');

test('many clusters with one algorithm share one isolate; other policy files get their own', async () => {
  const dir = tmpDir({ 'p1.ts': POLICY(1), 'p2.ts': POLICY(2) });
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  try {
    const rr = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.create(ROUND_ROBIN, { cluster: `c${i}` })));
    assert.is(runner.isolates(), 1);
    await runner.create(MIN_LOAD, { cluster: 'x' }, path.join(dir, 'p1.ts'));
    await runner.create(MIN_LOAD, { cluster: 'y' }, path.join(dir, 'p1.ts'));
    assert.is(runner.isolates(), 2, 'the same policy file: one isolate');
    await runner.create(MIN_LOAD, { cluster: 'z' }, path.join(dir, 'p2.ts'));
    assert.is(runner.isolates(), 3, 'another policy file: another isolate');
    // Each round robin keeps its own position, over its own candidates.
    const a = [nodeView('a'), nodeView('b')];
    const b = [nodeView('x'), nodeView('y'), nodeView('z')];
    const seen = Array.from({ length: 6 }, () => [rr[0]!.pick(a, testClient), rr[1]!.pick(b, testClient)]);
    assert.equal(seen.map((s) => s[0]), ['a', 'b', 'a', 'b', 'a', 'b']);
    assert.equal(seen.map((s) => s[1]), ['x', 'y', 'z', 'x', 'y', 'z']);
  } finally {
    runner.dispose();
  }
});

test("instances see only their own candidates and options, and keep their own state", async () => {
  const dir = tmpDir({ 'seer.mjs': SEER });
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  try {
    const one = await runner.create(path.join(dir, 'seer.mjs'), { cluster: 'one' });
    const two = await runner.create(path.join(dir, 'seer.mjs'), { cluster: 'two' });
    assert.is(runner.isolates(), 1);
    const a = [nodeView('a'), nodeView('b')];
    const b = [nodeView('c')];
    assert.is(idOf(await ask(one, a)), 'one:a,b:1');
    assert.is(idOf(await ask(two, b)), 'two:c:1');
    assert.is(idOf(await ask(one, a)), 'one:a,b:2');
    assert.is(idOf(await ask(two, [nodeView('d'), nodeView('e')])), 'two:d,e:2');
    assert.is(idOf(await ask(one, a)), 'one:a,b:3');
    // identify: the same code and options, the same text; other options, another.
    assert.is(await runner.identify!(path.join(dir, 'seer.mjs'), { cluster: 'one' }), runner.identityOf!(one));
    assert.is.not(runner.identityOf!(one), runner.identityOf!(two));
  } finally {
    runner.dispose();
  }
});

test('dropping an instance leaves the others; dropping the last disposes the isolate', async () => {
  const dir = tmpDir({ 'seer.mjs': SEER });
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  try {
    const one = await runner.create(path.join(dir, 'seer.mjs'), { cluster: 'one' });
    const two = await runner.create(path.join(dir, 'seer.mjs'), { cluster: 'two' });
    runner.release!(one);
    assert.is(runner.isolates(), 1);
    assert.is(idOf(await ask(two, [nodeView('a')])), 'two:a:1');
    runner.release!(two);
    assert.is(runner.isolates(), 0);
    const three = await runner.create(path.join(dir, 'seer.mjs'), { cluster: 'three' });
    assert.is(runner.isolates(), 1, 'a new isolate for the next one');
    assert.is(idOf(await ask(three, [nodeView('a')])), 'three:a:1');
  } finally {
    runner.dispose();
  }
});

test('a changed module gets a new isolate beside the old one, which serves on', async () => {
  const dir = tmpDir({ 'p.ts': POLICY(1) });
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  try {
    const before = await runner.create(MIN_LOAD, { cluster: 'c' }, path.join(dir, 'p.ts'));
    writeFileSync(path.join(dir, 'p.ts'), POLICY(3));
    utimesSync(path.join(dir, 'p.ts'), new Date(), new Date(Date.now() + 5000));
    assert.is.not(await runner.identify!(MIN_LOAD, { cluster: 'c' }, path.join(dir, 'p.ts')), runner.identityOf!(before));
    const after = await runner.create(MIN_LOAD, { cluster: 'c' }, path.join(dir, 'p.ts'));
    assert.is(runner.isolates(), 2);
    assert.is(before.pick([nodeView('a')], testClient), 'a');
    runner.release!(before);
    assert.is(runner.isolates(), 1);
    assert.is(after.pick([nodeView('a')], testClient), 'a');
  } finally {
    runner.dispose();
  }
});

test('running out of memory restarts the isolate: every cluster on it recovers, fresh', async () => {
  const dir = tmpDir({ 'bomb.mjs': BOMB });
  const runner = createSandboxRunner({ cpuTimeout: 2000, memoryLimit: 16, baseDir: dir });
  try {
    const x = await runner.create(path.join(dir, 'bomb.mjs'), { cluster: 'x' });
    const y = await runner.create(path.join(dir, 'bomb.mjs'), { cluster: 'y' });
    const nodes = [nodeView('a'), nodeView('b')];
    assert.is(idOf(await ask(x, nodes)), 'x1');
    assert.is(idOf(await ask(y, nodes)), 'y1');
    assert.is(idOf(await ask(y, nodes)), 'y2');
    const res = await ask(x, [nodeView('a', 1, { activeConnections: 7 }), nodeView('b')]);
    assert.equal(res, { ok: false, cause: 'memory', error: 'bomb.mjs: ran out of memory (limit 16 MiB); it restarts with fresh state' });
    assert.is(idOf(await ask(y, nodes)), 'y1', 'the other cluster on the isolate: made again, fresh');
    assert.is(idOf(await ask(x, nodes)), 'x1');
    assert.is(idOf(await ask(y, nodes)), 'y2');
    assert.is(runner.isolates(), 1);
  } finally {
    runner.dispose();
  }
});

test.run();
