/**
 * The process group (core/workers/group.ts): several processes accept on the primary's
 * listeners; changes reach every process before they are answered; status sums them; a
 * worker that dies is replaced without touching the other processes' connections; round
 * robin stays fair across processes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import net, { type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, readConfigFile } from '../../core/config-load.ts';
import type { Config } from '../../core/types.ts';
import { ProcessGroup } from '../../core/workers/group.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { addr, closeServer, connect, freePort, readAll, roundTrip, startEchoServer, startServer, waitFor, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { withBuiltins } from '../helpers/assembly.ts';

function configText(port: number, nodes: string[], cluster = ''): string {
  const list = nodes.map((a, i) => `{ id: 'n${i}', address: '${a}' }`).join(', ');
  return `export default {
  listeners: [{ port: ${port}, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { balance: 'round-robin', nodes: [${list}], ${cluster} } },
  workers: 2, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`;
}

async function startGroup(nodes: string[], extra = '') {
  const port = await freePort();
  const dir = tmpDir({ 'protobalance.config.ts': configText(port, nodes, extra) });
  const file = path.join(dir, 'protobalance.config.ts');
  const config = await loadConfig(file);
  const group = new ProcessGroup({ config, logger: recordingLogger(), ...withBuiltins() });
  await group.start();
  await withTimeout(group.workersReady, 30_000, 'the worker');
  assert.is(group.size, 2, 'primary and one worker');
  return { group, port, file };
}

/** Open `n` connections at once and keep them; returns them when all echo. */
async function openEchoing(port: number, n: number): Promise<Socket[]> {
  const sockets = await Promise.all(Array.from({ length: n }, () => connect(port)));
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.once('data', () => resolve());
          s.write('x');
        }),
    ),
  );
  return sockets;
}

const served = (lists: { totalConnections: number }[][]) => lists.map((l) => l.reduce((a, n) => a + n.totalConnections, 0));

test('two processes accept on one listener; status sums them; node states reach every process', async () => {
  const echo = await startEchoServer();
  const { group, port } = await startGroup([addr(echo)]);
  try {
    // The kernel spreads accepts between the processes: open bursts until both served.
    let total = 0;
    for (let burst = 0; burst < 20; burst++) {
      const sockets = await openEchoing(port, 50);
      total += sockets.length;
      for (const s of sockets) s.destroy();
      const per = served(await group.statusByProcess());
      if (per.every((n) => n > 0)) break;
    }
    const per = served(await group.statusByProcess());
    assert.ok(per.every((n) => n > 0), `every process served some (per process: ${per.join(', ')})`);
    const summed = await group.status();
    assert.is(summed[0]!.totalConnections, total, 'the summed status counts every connection');
    const resources = await group.resources({ gc: true });
    assert.is(resources.length, 2, 'memory and files of each process');
    assert.equal(resources.map((r) => r.pid), [process.pid, ...group.workerPids()]);
    assert.ok(resources.every((r) => r.rss > r.heapUsed && r.heapUsed > 0 && r.openFiles > 0));
    assert.is(per.reduce((a, b) => a + b, 0), total);

    const held = await openEchoing(port, 40);
    await group.setNodeState('c/n0', 'red');
    const states = (await group.statusByProcess()).map((l) => l[0]!.state);
    assert.equal(states, ['red', 'red'], 'the state is set in every process when setNodeState resolves');
    // Red closes the node's connections in every process.
    await waitFor(() => held.every((s) => s.destroyed || s.readableEnded), 5000, 'red to close every held connection');
    await group.setNodeState('c/n0', 'green');
    assert.is(await roundTrip(port, 'after'), 'after');
  } finally {
    await group.stop(0);
    await closeServer(echo);
  }
});

test('a worker that dies is replaced; the primary’s connections live on', async () => {
  const echo = await startEchoServer();
  const { group, port } = await startGroup([addr(echo)]);
  try {
    const held = await openEchoing(port, 60);
    const perBefore = (await group.statusByProcess()).map((l) => l[0]!.activeConnections);
    const [oldPid] = group.workerPids();
    process.kill(oldPid!, 'SIGKILL');
    await waitFor(() => group.workerPids().length === 1 && group.workerPids()[0] !== oldPid, 10_000, 'a new worker');
    await waitFor(() => group.size === 2, 10_000, 'the group back to two');
    // Connections the primary held still carry bytes both ways.
    const alive = held.filter((s) => !s.destroyed && !s.readableEnded);
    assert.is(alive.length, perBefore[0], `the primary's ${perBefore[0]} connections are still open`);
    for (const s of alive) {
      const echoed = new Promise<string>((resolve) => s.once('data', (d) => resolve(String(d))));
      s.write('still');
      assert.is(await withTimeout(echoed, 2000, 'an echo on a held connection'), 'still');
    }
    // The listener never stopped, and the new worker serves.
    assert.is(await roundTrip(port, 'new'), 'new');
    for (const s of held) s.destroy();
  } finally {
    await group.stop(0);
    await closeServer(echo);
  }
});

test("plugins know their process's role: one primary, the rest workers", async () => {
  const echo = await startEchoServer();
  const port = await freePort();
  const dir = tmpDir({
    'protobalance.config.ts': configText(port, [addr(echo)]).replace("log: { level: 'silent' },", "log: { level: 'silent' }, plugins: ['./role.mjs'],"),
    'role.mjs': `import { appendFileSync } from 'node:fs';
export default { name: 'role', apply(hooks, api) { hooks.listening.tap('role', () => appendFileSync(${JSON.stringify('ROLES')}, api.role + '\\n')); } };`,
  });
  const rolesFile = path.join(dir, 'roles.txt');
  const roleFile = path.join(dir, 'role.mjs');
  writeFileSync(roleFile, readFileSync(roleFile, 'utf8').replace('"ROLES"', JSON.stringify(rolesFile)));
  const config = await loadConfig(path.join(dir, 'protobalance.config.ts'));
  const group = new ProcessGroup({ config, logger: recordingLogger(), ...withBuiltins() });
  try {
    await group.start();
    await withTimeout(group.workersReady, 30_000, 'the worker');
    assert.is(group.serving, 2);
    const roles = readFileSync(rolesFile, 'utf8').trim().split('\n').sort();
    assert.equal(roles, ['primary', 'worker']);
  } finally {
    await group.stop(0);
    await closeServer(echo);
  }
});

test('a reload reaches every process before it resolves', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const { group, port, file } = await startGroup([addr(a)]);
  try {
    writeFileSync(file, configText(port, [addr(a), addr(b)]));
    const { raw } = await readConfigFile(file);
    await group.reload(raw as Config);
    const keys = (await group.statusByProcess()).map((l) => l.map((n) => n.key).join(','));
    assert.equal(keys, ['c/n0,c/n1', 'c/n0,c/n1']);
  } finally {
    await group.stop(0);
    await closeServer(a);
    await closeServer(b);
  }
});

/**
 * Two nodes behind two processes: `rounds` bursts of `burst` connections, `pauseMs` apart,
 * must reach both processes and split between the nodes within `tolerance` of half.
 */
async function fairAcrossProcesses(balance: string, rounds: number, burst: number, pauseMs: number, tolerance: number) {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const { group, port } = await startGroup([addr(a), addr(b)], `balance: '${balance}'`);
  try {
    for (let i = 0; i < rounds; i++) {
      for (const s of await openEchoing(port, burst)) s.destroy();
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    const per = served(await group.statusByProcess());
    assert.ok(per.every((n) => n > 0), `both processes served (${per.join(', ')})`);
    const [na, nb] = (await group.status()).map((n) => n.totalConnections);
    assert.is(na! + nb!, rounds * burst);
    const share = na! / (na! + nb!);
    assert.ok(Math.abs(share - 0.5) <= tolerance, `node shares ${na}:${nb}`);
  } finally {
    await group.stop(0);
    await closeServer(a);
    await closeServer(b);
  }
}

test('round robin stays fair across processes', () => fairAcrossProcesses('round-robin', 8, 50, 0, 0.05));

// Rounds over several seconds, so that the shared per-node rates (once a second) count.
test('connection-rate stays fair across processes: each weighs what the others send', () =>
  fairAcrossProcesses('connection-rate', 12, 40, 250, 0.1));

test('affinity holds across processes: every connection of a client reaches one node', async () => {
  const names = ['a', 'b'];
  const servers = await Promise.all(names.map((name) => startServer((s) => s.end(name))));
  const { group, port } = await startGroup(servers.map(addr), 'affinity: { enabled: true }');
  try {
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 6; round++) {
      await Promise.all(
        Array.from({ length: 24 }, async (_, i) => {
          const local = `127.0.0.${10 + i}`;
          const s = net.connect({ port, host: '127.0.0.1', localAddress: local });
          const answer = await withTimeout(readAll(s), 5000, 'an answer');
          const set = seen.get(local) ?? new Set<string>();
          set.add(String(answer));
          seen.set(local, set);
        }),
      );
    }
    const per = served(await group.statusByProcess());
    assert.ok(per.every((n) => n > 0), `both processes served (${per.join(', ')})`);
    const split = [...seen].filter(([, nodes]) => nodes.size > 1);
    assert.equal(split, [], 'no client was sent to two nodes');
    const used = new Set([...seen.values()].flatMap((v) => [...v]));
    assert.is(used.size, 2, 'the clients were spread over both nodes');
  } finally {
    await group.stop(0);
    for (const s of servers) await closeServer(s);
  }
});

test.run();
