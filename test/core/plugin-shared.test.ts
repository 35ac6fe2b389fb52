/**
 * What `api` gives plugins for limits across processes and for slow start: `api.shared`
 * (int32 arrays every process of a group sees) and `api.balancer.setLoadFactorScale`
 * (the factor every algorithm weighs).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:net';
import { definePlugin, loadConfig, ProcessGroup, type PluginApi } from '../../core/index.ts';
import { withBuiltins } from '../helpers/assembly.ts';
import { recordingLogger, startBalancer } from '../helpers/balancer.ts';
import { answerFrom, closeServer, portOf, startServer, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const test = suite('plugin api: shared memory, load factor scale');

// Counts every connection of the group in one shared int32, and writes what it saw (with its slot) to a file per process.
const COUNTING_PLUGIN = `
import { writeFileSync } from 'node:fs';
import { definePlugin } from 'protobalance';
export default definePlugin({
  name: 'count-all',
  apply(hooks, api) {
    const counts = api.shared.int32('count-all', 2);
    const write = () => writeFileSync(process.env.PB_TEST_OUT + '/' + api.shared.slot + '.json',
      JSON.stringify({ shared: api.shared.shared, slot: api.shared.slot, slots: api.shared.slots, total: Atomics.load(counts, 0) }));
    hooks.init.tap('count-all', write);
    hooks.connected.tap('count-all', () => void Atomics.add(counts, 0, 1));
    hooks.closed.tap('count-all', write);
  },
});
`;

test('api.shared: one int32 counts the connections of both processes exactly; each process has its own slot', async () => {
  const servers: Server[] = [];
  for (const id of ['a', 'b']) servers.push(await startServer((s) => s.end(id)));
  const out = tmpDir();
  process.env.PB_TEST_OUT = out;
  const text = `export default ${JSON.stringify({
    listeners: [{ host: '127.0.0.1', port: 0, cluster: 'web' }],
    clusters: { web: { nodes: ['a', 'b'].map((id, i) => ({ id, address: `127.0.0.1:${portOf(servers[i]!)}` })) } },
    plugins: ['./count-all.ts'],
    workers: 2,
    admin: false,
    stateDir: './state',
  })};\n`;
  const dir = tmpDir({ 'protobalance.config.ts': text, 'count-all.ts': COUNTING_PLUGIN });
  const config = await loadConfig(path.join(dir, 'protobalance.config.ts'));
  const group = new ProcessGroup({ config, logger: recordingLogger(), ...withBuiltins() });
  const [addr] = await group.start();
  try {
    await withTimeout(group.workersReady, 30_000, 'the worker');
    let sent = 0;
    for (let i = 0; i < 300; i++) {
      await answerFrom(addr!.port);
      sent++;
      if (sent < 20) continue;
      const byProcess = await group.statusByProcess();
      if (byProcess.every((nodes) => nodes.reduce((t, n) => t + n.totalConnections, 0) > 0)) break;
    }
    const byProcess = await group.statusByProcess();
    assert.ok(byProcess.every((nodes) => nodes.reduce((t, n) => t + n.totalConnections, 0) > 0), 'both processes served');
    // A closed tap runs after the answer reached the client: give the last one a moment.
    let seen: { shared: boolean; slot: number; slots: number; total: number }[] = [];
    for (let tries = 0; tries < 100; tries++) {
      seen = readdirSync(out).map((f) => JSON.parse(readFileSync(path.join(out, f), 'utf8')));
      if (Math.max(...seen.map((s) => s.total)) === sent) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(seen.map((s) => s.slot).sort(), [0, 1], 'slots 0 and 1');
    assert.ok(seen.every((s) => s.shared && s.slots === 2));
    assert.is(Math.max(...seen.map((s) => s.total)), sent, `every connection of both processes counted once (${sent})`);
  } finally {
    delete process.env.PB_TEST_OUT;
    await group.stopAccepting();
    await group.stop(0);
    for (const s of servers) await closeServer(s);
  }
});

test('setLoadFactorScale: all six algorithms weigh the scaled factor, and 1 restores the configured one', async () => {
  const servers: Server[] = [];
  for (const id of ['a', 'b']) servers.push(await startServer((s) => s.end(id)));
  // All six algorithms: a policy's rating is divided by the factor too (latency-aware rates every node at least 1).
  for (const balance of ['round-robin', 'random', 'connection-rate', 'traffic-rate', 'client-hash', 'policy:./policies/latency-aware.ts']) {
    let api: PluginApi | undefined;
    const plugin = definePlugin({ name: 'scale-a', apply: (_hooks, a) => void (api = a) });
    const b = await startBalancer({
      listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
      clusters: { c: { balance, nodes: ['a', 'b'].map((id, i) => ({ id, address: `127.0.0.1:${portOf(servers[i]!)}` })) } },
      plugins: [plugin],
    });
    try {
      const a = api!.balancer.node('c/a')!;
      api!.balancer.setLoadFactorScale(a, 0.1);
      assert.is(a.loadFactor, 0.1);
      assert.is(a.configuredLoadFactor, 1);
      assert.throws(() => api!.balancer.setLoadFactorScale(a, 0), /\(0, 1\]/);
      const counts = { a: 0, b: 0 } as Record<string, number>;
      // client-hash: many client addresses, so the ring's shares show.
      for (let i = 0; i < 110; i++) counts[await answerFrom(b.port, balance === 'client-hash' ? `127.0.${1 + (i >> 6)}.${1 + (i & 63)}` : '127.0.0.1')]!++;
      assert.ok(counts.a! < 30, `${balance}: a at a tenth of its factor took ${counts.a} of 110`);
      api!.balancer.setLoadFactorScale(a, 1);
      assert.is(a.loadFactor, 1);
    } finally {
      await b.stop();
    }
  }
  for (const s of servers) await closeServer(s);
});

test('setLoadFactorScale: each plugin scales in its own name; the node is weighed at the product', async () => {
  const server = await startServer((s) => s.end('a'));
  const apis: PluginApi[] = [];
  const plugin = (name: string) => definePlugin({ name, apply: (_hooks, a) => void apis.push(a) });
  const b = await startBalancer({
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: { c: { nodes: [{ id: 'a', address: `127.0.0.1:${portOf(server)}`, loadFactor: 2 }] } },
    plugins: [plugin('ramp'), plugin('tiers')],
  });
  try {
    const [ramp, tiers] = apis;
    const a = ramp!.balancer.node('c/a')!;
    tiers!.balancer.setLoadFactorScale(a, 0.5);
    ramp!.balancer.setLoadFactorScale(a, 0.5);
    assert.is(a.loadFactor, 0.5, '2 × 0.5 × 0.5');
    assert.is(a.loadFactorScale, 0.25);
    ramp!.balancer.setLoadFactorScale(a, 1);
    assert.is(a.loadFactor, 1, "the ramp's end leaves the other plugin's scale in place");
    const status = b.balancer.snapshot().nodes.find((n) => n.key === 'c/a')!;
    assert.equal([status.loadFactor, status.loadFactorScale], [2, 0.5], 'status: the configured factor, and the scale');
    tiers!.balancer.setLoadFactorScale(a, 1);
    assert.is(a.loadFactor, 2);
    assert.is(b.balancer.snapshot().nodes.find((n) => n.key === 'c/a')!.loadFactorScale, undefined);
  } finally {
    await b.stop();
    await closeServer(server);
  }
});

test.run();
