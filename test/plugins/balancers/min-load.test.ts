import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import minLoad from '../../../plugins/balancers/min-load.ts';
import { createBalancer, type PolicyDefinition } from '../../../core/index.ts';
import { recordingLogger } from '../../helpers/balancer.ts';
import { addr, closeServer, roundTrip, startEchoServer } from '../../helpers/net.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { nodeView, testClient } from '../../helpers/views.ts';
import { builtinPlugins } from '../../helpers/assembly.ts';

const withPolicy = (rate: PolicyDefinition['rate']) => minLoad.create({ cluster: 'c', policy: { name: 't', rate } });

const unit = suite('policy algorithm: minimum load per load factor');

unit('the lowest rating per load factor wins', () => {
  const c = withPolicy((n) => n.activeConnections);
  const nodes = [nodeView('a', 1, { activeConnections: 3 }), nodeView('b', 4, { activeConnections: 8 }), nodeView('c', 1, { activeConnections: 5 })];
  assert.is(c.pick(nodes, testClient), 'b'); // 8/4 = 2 beats 3/1 and 5/1
});

unit('ties take turns instead of the first always winning', () => {
  const c = withPolicy(() => 1);
  const nodes = [nodeView('a'), nodeView('b'), nodeView('c')];
  assert.equal(Array.from({ length: 6 }, () => c.pick(nodes, testClient)), ['a', 'b', 'c', 'a', 'b', 'c']);
});

unit('kept in proportion to load factors as connections accumulate', () => {
  const c = withPolicy((n) => n.activeConnections);
  const nodes = [nodeView('a', 1), nodeView('b', 3)];
  const active: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 400; i++) {
    const id = c.pick(nodes.map((n) => nodeView(n.id, n.loadFactor, { activeConnections: active[n.id]! })), testClient)!;
    active[id]!++;
  }
  assert.equal(active, { a: 100, b: 300 });
});

unit('non-finite ratings drop a node; none finite fails the pick', () => {
  const c = withPolicy((n) => (n.id === 'a' ? Number.NaN : 1));
  assert.is(c.pick([nodeView('a'), nodeView('b')], testClient), 'b');
  assert.throws(() => withPolicy(() => Infinity).pick([nodeView('a')], testClient), /rated no node with a finite number/);
});

/** Round trips through `port`, every one served, until `done()` (at most 5 s). */
async function servedUntil(port: number, done: () => boolean): Promise<void> {
  for (let i = 0, end = Date.now() + 5000; !done() && Date.now() < end; i++) {
    assert.is(await roundTrip(port, `w${i}`), `w${i}`, 'served by the fallback meanwhile');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const e2e = suite('policy algorithm: through the balancer, sandboxed');

e2e('balance "policy:./file.ts" follows the user\'s rating; a looping or memory-bombing policy costs no connection', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const dir = tmpDir({
    'policies/prefer-b.ts': `import { definePolicy } from 'protobalance';\nexport default definePolicy({ name: 'prefer-b', rate: (n) => (n.id === 'b' ? 0 : 10) });\n`,
    'policies/loop.ts': `export default { name: 'loop', rate() { for (;;) {} } };\n`,
    'policies/bomb.ts': `const keep: number[][] = [];\nexport default { name: 'bomb', rate() { for (;;) keep.push(new Array(1e6).fill(1)); } };\n`,
  });
  const config = (policy: string) => ({
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { balance: `policy:./policies/${policy}`, nodes: [{ id: 'a', address: addr(a) }, { id: 'b', address: addr(b) }] } },
    sandbox: { cpuTimeout: '20ms', maxFailures: 3 },
  });
  const logger = recordingLogger();
  const balancer = createBalancer(config('prefer-b.ts'), { logger, builtins: builtinPlugins(), source: path.join(dir, 'protobalance.config.ts') });
  const [listening] = await balancer.start();
  try {
    for (let i = 0; i < 4; i++) assert.is(await roundTrip(listening!.port, `x${i}`), `x${i}`);
    assert.equal([a.connections, b.connections], [0, 4]);
    await balancer.reload(config('loop.ts'));
    for (let i = 0; i < 4; i++) assert.is(await roundTrip(listening!.port, `y${i}`), `y${i}`, 'served despite the loop');
    const cluster = balancer.clusters()[0]!;
    // A failure counts when its call ends (each runs to its 20 ms limit, off the event
    // loop): clients keep being served by the fallback meanwhile.
    await servedUntil(listening!.port, () => cluster.chooser.health.broken);
    assert.ok(cluster.chooser.health.broken, 'reported broken after 3 failures in a row');
    assert.match(cluster.chooser.health.lastError ?? '', /CPU time limit of 20 ms/);
    assert.ok(logger.lines.some((l) => l.fields.algorithm === 'policies/loop.ts' && l.msg.startsWith('algorithm is broken')));
    await balancer.reload(config('bomb.ts'));
    for (let i = 0; i < 3; i++) assert.is(await roundTrip(listening!.port, `z${i}`), `z${i}`, 'served despite the memory bomb');
    await servedUntil(listening!.port, () => balancer.clusters()[0]!.chooser.health.lastError !== undefined);
    assert.match(balancer.clusters()[0]!.chooser.health.lastError ?? '', /ran out of memory|CPU time limit/);
  } finally {
    await balancer.stop(100);
    await closeServer(a);
    await closeServer(b);
  }
});

unit.run();
e2e.run();
