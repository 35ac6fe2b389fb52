/**
 * The connection limits across the processes of a group (`workers: 2`): a node's
 * maxConnections holds for the group, not per process (the node never sees more, and is
 * filled up to it); queued clients are served as slots free in either process; the
 * queue's size holds for the group; a worker that replaces a dead one gives back the
 * slots the dead one held.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, ProcessGroup } from '../../../core/index.ts';
import { withBuiltins } from '../../helpers/assembly.ts';
import { recordingLogger } from '../../helpers/balancer.ts';
import { closeServer, waitFor, withTimeout } from '../../helpers/net.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { addressOf, backend, builtIn, client, clients, count, type Backend } from './backends.ts';

const test = suite('connection-limits: two processes');
const PLUGIN = fileURLToPath(new URL('../../../plugins/connection-limits/index.ts', import.meta.url));

async function startGroup(nodes: { b: Backend; max?: number }[], cluster: object = {}) {
  const text = `export default ${JSON.stringify({
    listeners: [{ host: '127.0.0.1', port: 0, cluster: 'c', name: 'front' }],
    clusters: {
      c: { balance: 'round-robin', nodes: nodes.map(({ b, max }) => ({ id: b.id, address: addressOf(b), ...(max ? { maxConnections: max } : {}) })), ...cluster },
    },
    plugins: builtIn ? [] : [PLUGIN],
    workers: 2,
    admin: false,
    log: { level: 'silent' },
    stateDir: './state',
  })};\n`;
  const dir = tmpDir({ 'protobalance.config.ts': text });
  const config = await loadConfig(path.join(dir, 'protobalance.config.ts'));
  const group = new ProcessGroup({ config, logger: recordingLogger(), ...withBuiltins() });
  const [addr] = await group.start();
  await withTimeout(group.workersReady, 30_000, 'the worker');
  assert.is(group.serving, 2);
  return { group, port: addr!.port };
}

type Group = Awaited<ReturnType<typeof startGroup>>['group'];

/** Clients accepted by each process so far. */
async function acceptedByProcess(group: Group): Promise<number[]> {
  return (await group.snapshotByProcess()).map((s) => s.listeners.reduce((t, l) => t + l.accepted, 0));
}

async function stop(group: Group, sockets: { destroy(): void }[], nodes: Backend[]) {
  for (const s of sockets) s.destroy();
  await group.stopAccepting();
  await group.stop(0);
  for (const b of nodes) await closeServer(b.server);
}

test('maxConnections 5 holds for the group: bursts through both processes fill the node to 5, never more; the rest go to the other node', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const { group, port } = await startGroup([{ b: a, max: 5 }, { b }]);
  const sockets: { destroy(): void }[] = [];
  try {
    // Bursts of 40 at once until both processes accepted some (the kernel picks who accepts).
    for (let burst = 0; burst < 10; burst++) {
      const held = await clients(port, 40);
      sockets.push(...held.map((h) => h.socket));
      const ids = held.map((h) => h.id);
      assert.is(count(ids, ''), 0, 'nobody refused');
      assert.is(count(ids, 'a'), 5, `a took exactly 5 (${ids.join('')})`);
      await waitFor(() => a.open === 5 && b.open === 35, 3000, 'the nodes to hold them');
      assert.is(a.peak, 5, 'a never held more than 5');
      for (const h of held) h.socket.destroy();
      await waitFor(() => a.open === 0 && b.open === 0, 3000, 'the nodes to be free');
      if ((await acceptedByProcess(group)).every((n) => n > 0)) break;
    }
    const per = await acceptedByProcess(group);
    assert.ok(per.every((n) => n > 0), `both processes accepted clients (${per.join(' + ')})`);
    assert.is(a.peak, 5);
  } finally {
    await stop(group, sockets, [a, b]);
  }
});

test('queued in both processes: every client is served as slots free, the node never holds more than 5', async () => {
  const a = await backend('a', 30); // each connection is ended by the node after 30 ms
  const { group, port } = await startGroup([{ b: a, max: 5 }], { queue: { size: 200, timeout: '30s' } });
  try {
    let sent = 0;
    for (let burst = 0; burst < 10; burst++) {
      const served = await clients(port, 40);
      sent += served.length;
      assert.equal(served.map((s) => s.id), served.map(() => 'a'), 'every client served by a');
      if ((await acceptedByProcess(group)).every((n) => n > 0)) break;
    }
    const per = await acceptedByProcess(group);
    assert.ok(per.every((n) => n > 0), `both processes accepted clients (${per.join(' + ')})`);
    assert.ok(a.peak <= 5, `a never held more than 5 (peak ${a.peak})`);
    assert.is(a.peak, 5, 'and was full');
    assert.is(a.total, sent);
    assert.equal((await group.snapshot()).listeners[0]!.refusedBy, {});
  } finally {
    await stop(group, [], [a]);
  }
});

test('the queue size holds for the group: with the node full and 4 places, of 12 clients 4 wait and 7 are refused as queue-full', async () => {
  const a = await backend('a');
  const { group, port } = await startGroup([{ b: a, max: 1 }], { queue: { size: 4, timeout: '60s' } });
  const sockets: { destroy(): void }[] = [];
  try {
    const [first] = await clients(port, 1);
    sockets.push(first!.socket);
    assert.is(first!.id, 'a');
    for (let round = 1; round <= 5; round++) {
      const made = Array.from({ length: 11 }, () => client(port));
      sockets.push(...made.map((m) => m.socket));
      await waitFor(() => made.filter((m) => m.socket.closed).length >= 7, 10_000, 'the refusals');
      const snap = await group.snapshot();
      assert.is(snap.listeners[0]!.refusedBy['queue-full'], 7 * round, 'exactly 7 more refused, whichever process accepted them');
      await new Promise((r) => setTimeout(r, 100));
      assert.is(made.filter((m) => m.socket.closed).length, 7, 'the other 4 still wait');
      assert.is(a.total, 1);
      for (const m of made) m.socket.destroy();
      await waitFor(() => made.every((m) => m.socket.closed), 2000, 'the waiting clients to leave');
      // Both processes took part, in this round or before: enough.
      if ((await acceptedByProcess(group)).every((n) => n > 0)) break;
      // Wait for the processes to see the waiting clients leave before the next round.
      await new Promise((r) => setTimeout(r, 100));
    }
    const per = await acceptedByProcess(group);
    assert.ok(per.every((n) => n > 0), `both processes accepted clients (${per.join(' + ')})`);
  } finally {
    await stop(group, sockets, [a]);
  }
});

test("a worker that replaces a dead one gives back the dead one's slots: the node fills up to its limit again", async () => {
  const a = await backend('a');
  const b = await backend('b');
  const { group, port } = await startGroup([{ b: a, max: 4 }, { b }]);
  const sockets: { destroy(): void }[] = [];
  try {
    // Bursts until the worker holds some of a's 4 slots (the kernel picks who accepts).
    const workerOnA = async () => (await group.statusByProcess())[1]!.find((n) => n.key === 'c/a')!.activeConnections;
    for (let burst = 0; burst < 20; burst++) {
      const held = (await clients(port, 20)).map((h) => h.socket);
      sockets.push(...held);
      if ((await workerOnA()) > 0) break;
      for (const s of held) s.destroy();
      await waitFor(() => a.open === 0 && b.open === 0, 3000, 'the nodes to be free');
    }
    const lost = await workerOnA();
    assert.ok(lost > 0, 'the worker holds slots of a');
    await waitFor(() => a.open === 4, 3000, 'a full');
    const [oldPid] = group.workerPids();
    process.kill(oldPid!, 'SIGKILL');
    await waitFor(() => group.workerPids().length === 1 && group.workerPids()[0] !== oldPid, 10_000, 'a new worker');
    await waitFor(() => group.serving === 2, 10_000, 'the group back to two');
    await waitFor(() => a.open === 4 - lost, 3000, "the dead worker's connections to end");
    // New clients, through either process, fill a up to 4 again: the slots came back.
    for (let burst = 0; burst < 10 && a.open < 4; burst++) sockets.push(...(await clients(port, 10)).map((h) => h.socket));
    await waitFor(() => a.open === 4, 3000, 'a full again');
    assert.is(a.peak, 4, 'never more than 4');
  } finally {
    await stop(group, sockets, [a, b]);
  }
});

test.run();
