import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSandboxRunner, isProtoBalanceError, type Chooser } from '../../core/index.ts';
import { guardChooser } from '../../core/algorithms.ts';
import { isDeferred, type CallResult, type DeferredChooser } from '../../core/algorithm-runner.ts';
import type { NodeView } from '../../core/types.ts';
import { waitFor } from '../helpers/net.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { nodeView, testClient } from '../helpers/views.ts';

const ROUND_ROBIN = fileURLToPath(new URL('../../plugins/balancers/round-robin.ts', import.meta.url));
const MIN_LOAD = fileURLToPath(new URL('../../plugins/balancers/min-load.ts', import.meta.url));
const nodes = [nodeView('a'), nodeView('b')];

/** An algorithm whose pick returns what `expression` evaluates to inside the sandbox. */
function probe(expression: string): string {
  return `export default { name: 'probe', create() { return { pick() { return String(${expression}); } }; } };`;
}

async function sandboxed(files: Record<string, string>, main: string, policy?: string, limits = {}): Promise<Chooser> {
  const dir = tmpDir(files);
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir, ...limits });
  return runner.create(path.join(dir, main), { cluster: 'c' }, policy && path.join(dir, policy));
}

/** The same, as the guard sees it: calls that can be waited for with a deadline. */
async function deferred(files: Record<string, string>, main: string, policy?: string, limits = {}): Promise<DeferredChooser> {
  const chooser = await sandboxed(files, main, policy, limits);
  assert.ok(isDeferred(chooser));
  return chooser;
}

/** How one pick ends, without blocking the event loop. */
async function ask(chooser: DeferredChooser, among: NodeView[]): Promise<CallResult> {
  const r = chooser.request(among, testClient, 0);
  return r.now ?? (await r.later!);
}

const idOf = (res: CallResult) => (res.ok ? res.id : res.error);

async function loadError(files: Record<string, string>, main: string): Promise<string> {
  try {
    await sandboxed(files, main);
  } catch (err) {
    assert.ok(isProtoBalanceError(err), String(err));
    assert.is(err.code, 'PB_ERR_ALGORITHM_LOAD');
    return err.message;
  }
  throw new Error('expected the load to fail');
}

const escapes = suite('sandbox: no way out');

escapes('no require, process, module, timers, network or host globals', async () => {
  const checks: Record<string, string> = {
    'typeof globalThis.require': 'undefined',
    "(() => { try { require('fs'); return 'loaded'; } catch { return 'threw'; } })()": 'threw',
    'typeof process': 'undefined',
    'typeof module': 'undefined',
    'typeof setTimeout': 'undefined',
    'typeof setInterval': 'undefined',
    'typeof queueMicrotask': 'undefined',
    'typeof fetch': 'undefined',
    'typeof XMLHttpRequest': 'undefined',
    'typeof WebSocket': 'undefined',
    'typeof Buffer': 'undefined',
    'typeof globalThis.global': 'undefined',
    "(() => { try { return typeof Function('return this')().process; } catch { return 'threw'; } })()": 'undefined',
    "(() => { try { return typeof ({}).constructor.constructor('return process')(); } catch { return 'threw'; } })()": 'threw',
    "(() => { try { return typeof this.constructor.constructor('return require')(); } catch { return 'threw'; } })()": 'threw',
  };
  for (const [expression, expected] of Object.entries(checks)) {
    const chooser = await sandboxed({ 'a.mjs': probe(expression) }, 'a.mjs');
    assert.is(chooser.pick(nodes, testClient), expected, expression);
  }
});

escapes('Node built-ins cannot be imported; a dynamic import gets nothing', async () => {
  for (const [file, code] of Object.entries({
    'fs.mjs': `import fs from 'node:fs';\nexport default { name: 'x', create() { return { pick: () => fs.readFileSync('/etc/passwd', 'utf8') }; } };`,
    'net.mjs': `import net from 'net';\nexport default { name: 'x', create() { return { pick: () => typeof net }; } };`,
  })) {
    assert.match(await loadError({ [file]: code }, file), /Could not resolve "(node:)?(fs|net)"/, file);
  }
  const dynamic = await sandboxed(
    {
      'dyn.mjs': `let got = 'pending';
try { import('node:child_process').then(() => { got = 'loaded'; }, () => { got = 'refused'; }); } catch { got = 'threw'; }
export default { name: 'x', create() { return { pick: () => got }; } };`,
    },
    'dyn.mjs',
  );
  assert.is.not(dynamic.pick(nodes, testClient), 'loaded');
  assert.is.not(dynamic.pick(nodes, testClient), 'loaded');
});

escapes('algorithms see copies: changing a node view changes nothing outside', async () => {
  const chooser = await sandboxed(
    { 'm.mjs': `export default { name: 'm', create() { return { pick(nodes) { nodes[0].activeConnections = 999; nodes[0].metrics.x = 1; return nodes[0].id; } }; } };` },
    'm.mjs',
  );
  const live = [nodeView('a'), nodeView('b')];
  assert.is(chooser.pick(live, testClient), 'a');
  assert.is(live[0]!.activeConnections, 0);
  assert.equal(live[0]!.metrics, {});
});

const limits = suite('sandbox: limits and errors');

limits('an infinite loop is cut off at its CPU time limit, off the event loop: the caller does not wait', async () => {
  const chooser = await deferred({ 'loop.mjs': `export default { name: 'l', create() { return { pick() { for (;;) {} } }; } };` }, 'loop.mjs');
  const start = performance.now();
  const r = chooser.request(nodes, testClient, 0);
  const blocked = performance.now() - start;
  assert.is(r.now, undefined);
  const res = await r.later!;
  const total = performance.now() - start;
  assert.equal(res, { ok: false, cause: 'cpu', error: 'loop.mjs: exceeded its CPU time limit of 50 ms' });
  assert.ok(blocked < total / 3, `the caller was held ${blocked.toFixed(1)} ms of the call's ${total.toFixed(1)} ms`);
});

limits('a call blocked in Atomics.wait is reported as waiting, with the line it waits at', async () => {
  const chooser = await deferred(
    { 'wait.mjs': `export default { name: 'w', create() { return { pick() {\n    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n  } }; } };` },
    'wait.mjs',
  );
  const res = await ask(chooser, nodes);
  assert.equal(res, { ok: false, cause: 'deadline', error: 'wait.mjs:2:13: waited past its time limit of 50 ms (Atomics.wait) without answering' });
});

limits('a memory bomb kills only its isolate, which restarts fresh on the next call', async () => {
  const chooser = await deferred(
    {
      'bomb.mjs': `let calls = 0;
export default { name: 'b', create() { return { pick(nodes) {
  calls++;
  if (nodes[0].activeConnections === 7) { const keep = []; for (;;) keep.push(new Array(1e6).fill(calls)); }
  return nodes[1].id + calls;
} }; } };`,
    },
    'bomb.mjs',
    undefined,
    { cpuTimeout: 2000 },
  );
  assert.is(chooser.pick(nodes, testClient), 'b1');
  const res = await ask(chooser, [nodeView('a', 1, { activeConnections: 7 }), nodeView('b')]);
  assert.equal(res, { ok: false, cause: 'memory', error: 'bomb.mjs: ran out of memory (limit 16 MiB); it restarts with fresh state' });
  assert.equal(idOf(await ask(chooser, nodes)), 'b1', 'a fresh isolate: the counter started again');
});

limits('a 20 MB answer is described in the isolate, never copied out', async () => {
  const chooser = await deferred({ 'huge.mjs': `export default { name: 'h', create() { return { pick() { return 'x'.repeat(20e6); } }; } };` }, 'huge.mjs');
  const res = await ask(chooser, nodes);
  assert.equal(res, { ok: false, cause: 'answer', error: 'answered a string of 20000000 characters (the limit is 1024), which is no node id' });
});

limits("a throw's text is cut to 1 KiB, and keeps its file and line", async () => {
  const chooser = await deferred({ 'big.mjs': `export default { name: 'h', create() { return { pick() { throw new Error('y'.repeat(5e6)); } }; } };` }, 'big.mjs');
  const res = await ask(chooser, nodes);
  assert.is(res.ok, false);
  const error = res.ok ? '' : res.error;
  assert.match(error, /^big\.mjs:1:\d+: y{1024}… \(5000000 characters\)$/);
});

limits('changed intrinsics cannot fake or enlarge an answer, nor replace the entry point', async () => {
  const chooser = await deferred(
    {
      'sly.mjs': `String.prototype.charCodeAt = () => 65; Atomics.store = () => 0; Array.isArray = () => { throw new Error('x'); };
JSON.stringify = () => 'z'.repeat(1e6); Map.prototype.get = () => 0;
try { globalThis.__pbRun = () => {}; } catch {}
try { delete globalThis.__pbRun; } catch {}
export default { name: 's', create() { return { pick(nodes) { return nodes[1].id; } }; } };`,
    },
    'sly.mjs',
  );
  assert.is(chooser.pick(nodes, testClient), 'b');
  assert.equal(idOf(await ask(chooser, nodes)), 'b');
});

limits('a throwing policy is reported with its file and line', async () => {
  const policy = `import { definePolicy } from 'protobalance';

export default definePolicy({
  name: 'bad',
  rate(node) {
    if (node.id === 'b') throw new Error('cannot rate b');
    return 1;
  },
});
`;
  const chooser = await sandboxed({ 'bad.ts': policy }, '', 'bad.ts').catch(() => undefined);
  assert.is(chooser, undefined, 'an empty algorithm path fails');
  const dir = tmpDir({ 'policies/bad.ts': policy });
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  const c = await runner.create(MIN_LOAD, { cluster: 'c' }, path.join(dir, 'policies/bad.ts'));
  assert.throws(() => c.pick(nodes, testClient), (err: Error) => err.message === 'policies/bad.ts:6:32: cannot rate b');
});

limits('a syntax error in a policy names file, line and column at load', async () => {
  const dir = tmpDir({ 'p.ts': 'export default {\n  name: "x",\n  rate(node) { return node.; },\n};\n' });
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  const err = await runner.create(MIN_LOAD, { cluster: 'c' }, path.join(dir, 'p.ts')).then(() => undefined, (e: Error) => e);
  assert.ok(isProtoBalanceError(err));
  assert.match(err.message, /^p\.ts:3:\d+: /);
});

limits('repeated failures open the breaker: no more calls until a trial; a good trial closes it; no choice is lost', async () => {
  const chooser = await deferred(
    { 'flaky.mjs': `let n = 0; export default { name: 'f', create() { return { pick(nodes) { if (n++ < 5) throw new Error('not yet'); return nodes[1].id; } }; } };` },
    'flaky.mjs',
  );
  const logger = recordingLogger();
  let now = 1_000_000;
  const guarded = guardChooser(chooser, logger, 5, { now: () => now, retryAfter: 5000 });
  const got = Array.from({ length: 6 }, () => guarded.choose(nodes, testClient).id);
  assert.equal(got, ['a', 'b', 'a', 'b', 'a', 'b'], 'every failed pick still got a node, by rotation');
  assert.is(guarded.health.state, 'broken');
  assert.ok(guarded.health.broken);
  assert.is(guarded.health.failures.throw, 5, 'the 6th choice did not call the algorithm');
  assert.is(guarded.health.lastError, 'flaky.mjs:1:93: not yet');
  assert.is(logger.lines.filter((l) => l.msg.startsWith('algorithm is broken')).length, 1);
  now += 5000;
  guarded.choose(nodes, testClient); // the trial: nobody waits for it (its answer is used only if already there)
  await waitFor(() => !guarded.health.broken, 2000, 'the trial to close the breaker');
  assert.ok(logger.lines.some((l) => l.msg === 'algorithm works again'));
  assert.is(guarded.choose(nodes, testClient).id, 'b');
  assert.is(guarded.health.state, 'ok');
});

const batching = suite('sandbox: batched picks');

batching('round robin through the sandbox keeps the exact sequence, and a changed factor replans', async () => {
  const dir = tmpDir({});
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: dir });
  const rr = await runner.create(ROUND_ROBIN, { cluster: 'c' });
  const weighted = [nodeView('a', 3), nodeView('b', 1)];
  const seq = Array.from({ length: 200 }, () => rr.pick(weighted, testClient));
  assert.equal(seq.slice(0, 8), ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
  assert.is(seq.filter((x) => x === 'b').length, 50);
  const equal = [nodeView('a', 1), nodeView('b', 1)];
  const after = Array.from({ length: 10 }, () => rr.pick(equal, testClient));
  assert.is(after.filter((x) => x === 'a').length, 5);
  runner.dispose();
});

escapes.run();
limits.run();
batching.run();
