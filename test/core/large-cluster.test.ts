/**
 * A 5,000-node cluster serves through a real balancer with every built-in algorithm, and
 * the sandbox's candidate table (core/sandbox-table.ts) gives the same picks as plain
 * NodeView objects in this process. No timings are asserted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { createInProcessRunner, createSandboxRunner } from '../../core/index.ts';
import { COLUMNS, STRIDE } from '../../core/sandbox-table.ts';
import { COL } from '../../plugins/balancers/node-table.ts';
import type { Chooser, NodeView } from '../../core/types.ts';
import { createBalancer, type Config } from '../../core/index.ts';
import { builtinPlugins } from '../helpers/assembly.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { closeServer, roundTrip, startEchoServer } from '../helpers/net.ts';
import { testClient } from '../helpers/views.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const module = (name: string) => fileURLToPath(new URL(`../../plugins/balancers/${name}.ts`, import.meta.url));
const LIMITS = { cpuTimeout: 200, memoryLimit: 64, baseDir: ROOT };

function nodes(count: number, factor: (i: number) => number): (NodeView & { activeConnections: number; connectionRate: number; bytesRate: number; metrics: Record<string, number> })[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `n${i}`,
    loadFactor: factor(i),
    activeConnections: (i * 7) % 5,
    totalConnections: 0,
    connectionRate: (i * 13) % 9,
    bytesRate: 1000 + ((i * 7919) % 20_000),
    recentFailures: 0,
    connectLatency: 0,
    state: 'green' as const,
    metrics: {},
  }));
}

async function pair(name: string, options: Record<string, unknown> = {}): Promise<{ sandboxed: Chooser; inProcess: Chooser; done: () => void }> {
  const sandbox = createSandboxRunner(LIMITS);
  const local = createInProcessRunner();
  const base = { cluster: 'c', hashSecret: 's', ...options };
  const sandboxed = await sandbox.create(module(name), base);
  const inProcess = await local.create(module(name), base);
  return { sandboxed, inProcess, done: () => (sandbox.dispose(), local.dispose()) };
}

const table = suite('large cluster: the candidate table');

table('the table layout the built-ins read is the host\'s', () => {
  assert.equal({ ...COL }, { ...COLUMNS });
  assert.is(STRIDE, Object.keys(COLUMNS).length);
});

// Planned (batchable) algorithms run ahead of the picks taken, and a plan for other
// candidates drops the rest of the old one: they are compared over an unchanged set.
for (const name of ['round-robin', 'random']) {
  table(`${name}: the same sequence through the table (planned) as over NodeViews`, async () => {
    for (const count of [300, 5000]) {
      const { sandboxed, inProcess, done } = await pair(name, { seed: 7 });
      try {
        const set = nodes(count, (i) => 1 + (i % 3)).filter((_, i) => i % 7 !== 0);
        for (let k = 0; k < 1200; k++) assert.is(sandboxed.pick(set, testClient), inProcess.pick(set, testClient), `${name} ${count} pick ${k}`);
      } finally {
        done();
      }
    }
  });
}

for (const name of ['connection-rate', 'traffic-rate', 'client-hash']) {
  table(`${name}: the same picks through the table as over NodeViews, across candidate and figure changes`, async () => {
    const { sandboxed, inProcess, done } = await pair(name);
    try {
      const all = nodes(300, (i) => 1 + (i % 3));
      const some = all.filter((_, i) => i % 7 !== 0);
      for (let round = 0; round < 3; round++) {
        for (const [s, set] of [all, some, all].entries()) {
          for (let k = 0; k < 40; k++) {
            const client = { ...testClient, address: `10.0.${round}.${k}` };
            assert.is(sandboxed.pick(set, client), inProcess.pick(set, client), `${name} round ${round} set ${s} pick ${k}`);
            // Figures move under the algorithm, as live counters do.
            set[(k * 31) % set.length]!.connectionRate += 1;
            set[(k * 17) % set.length]!.bytesRate += 500;
          }
        }
        // A factor changed in place (a runtime change).
        (all[round] as { loadFactor: number }).loadFactor += 1;
      }
    } finally {
      done();
    }
  });
}

table('round-robin: weights honoured over 5,000 nodes (each node factor times per cycle)', async () => {
  const { sandboxed, done } = await pair('round-robin');
  try {
    const set = nodes(5000, (i) => (i % 2 === 0 ? 1 : 2));
    const counts = new Map<string, number>();
    for (let k = 0; k < 7500 * 2; k++) {
      const id = sandboxed.pick(set, testClient)!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (let i = 0; i < set.length; i++) assert.is(counts.get(`n${i}`), set[i]!.loadFactor * 2, `n${i}`);
  } finally {
    done();
  }
});

table('a user algorithm still gets plain NodeView objects, figures and metrics current', async () => {
  const sandbox = createSandboxRunner(LIMITS);
  try {
    const policy = fileURLToPath(new URL('../../policies/least-load.ts', import.meta.url));
    const chooser = await sandbox.create(module('min-load'), { cluster: 'c' }, policy);
    const set = nodes(5000, () => 1);
    for (const n of set) n.activeConnections = 10;
    set[4321]!.activeConnections = 0;
    assert.is(chooser.pick(set, testClient), 'n4321');
    set[4321]!.activeConnections = 50;
    set[17]!.activeConnections = 1;
    assert.is(chooser.pick(set, testClient), 'n17');
  } finally {
    sandbox.dispose();
  }
});

table.run();

const serve = suite('large cluster: 5,000 nodes serve');
const BALANCES = ['round-robin', 'random', 'client-hash', 'connection-rate', 'traffic-rate', 'policy:./policies/least-load.ts'];

serve('every built-in algorithm chooses among 5,000 nodes and every connection is served', async () => {
  const servers = await Promise.all([startEchoServer(), startEchoServer(), startEchoServer()]);
  try {
    const addresses = Array.from({ length: 5000 }, (_, i) => `127.0.0.1:${(servers[i % 3]!.address() as { port: number }).port}`);
    for (const balance of BALANCES) {
      const config: Config = {
        stateDir: tmpDir(),
        listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
        clusters: { c: { balance, hashSecret: 'secret', nodes: addresses.map((address, i) => ({ id: `n${i}`, address })) } },
      };
      // A source in the repository: the policy path resolves against its folder.
      const balancer = createBalancer(config, { logger: recordingLogger(), builtins: builtinPlugins(), source: `${ROOT}protobalance.config.ts` });
      const [first] = await balancer.start();
      const t = { balancer, port: first!.port, stop: () => balancer.stop(200) };
      try {
        for (let k = 0; k < 12; k++) assert.is(await roundTrip(t.port, `hello ${k}`), `hello ${k}`, `${balance}: connection ${k}`);
        let served = 0;
        for (let i = 0; i < 5000; i++) served += t.balancer.node(`c/n${i}`)!.totalConnections;
        assert.is(served, 12, balance);
      } finally {
        await t.stop();
      }
    }
  } finally {
    await Promise.all(servers.map(closeServer));
  }
});

serve.run();
