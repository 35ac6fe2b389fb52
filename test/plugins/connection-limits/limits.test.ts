/**
 * The connection limits plugin with real sockets, one process: a full node is skipped and
 * the others take the overflow; with every node full a client waits in the cluster's queue
 * and is served when a slot frees, or is refused (queue full at once, or its timeout), or
 * without a queue is refused at once; listener maxConnections; the per address rate of new
 * connections. Every refusal is counted by its code.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { definePlugin, type Config } from '../../../core/index.ts';
import connectionLimits from '../../../plugins/connection-limits/index.ts';
import { startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { closeServer, waitFor, withTimeout } from '../../helpers/net.ts';
import { addressOf, backend, builtIn, client, clients, count, type Backend } from './backends.ts';

const test = suite('connection-limits: one process');

const refusedBy = (tb: TestBalancer) => tb.balancer.snapshot().listeners[0]!.refusedBy;

async function start(nodes: Backend[], extra: { nodes?: object[]; cluster?: object; listener?: object; plugins?: Config['plugins'] } = {}) {
  const config: Config = {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c', name: 'front', ...extra.listener }],
    clusters: {
      c: { balance: 'round-robin', nodes: nodes.map((b, i) => ({ id: b.id, address: addressOf(b), ...extra.nodes?.[i] })), ...extra.cluster },
    },
    log: { level: 'silent' },
    plugins: [...(builtIn ? [] : [connectionLimits]), ...(extra.plugins ?? [])],
  } as Config;
  return Object.assign(await startBalancer(config), { config });
}

async function cleanUp(tb: TestBalancer, sockets: { destroy(): void }[], nodes: Backend[]) {
  for (const s of sockets) s.destroy();
  await tb.stop();
  for (const b of nodes) await closeServer(b.server);
}

test('a full node is not dialled: the other node takes the overflow; a freed slot is taken again', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const tb = await start([a, b], { nodes: [{ maxConnections: 2 }, {}] });
  const held = await clients(tb.port, 8);
  try {
    const ids = held.map((h) => h.id);
    assert.is(count(ids, 'a'), 2, `a took its 2 (${ids.join(' ')})`);
    assert.is(count(ids, 'b'), 6, 'b took the rest');
    await waitFor(() => a.open === 2 && b.open === 6, 2000, 'the nodes to see them');
    assert.is(a.peak, 2);
    // Give back every connection of a: it takes 2 again, never more.
    for (const h of held.filter((h) => h.id === 'a')) h.socket.destroy();
    await waitFor(() => a.open === 0, 2000, 'a to be free');
    const more = await clients(tb.port, 6);
    held.push(...more);
    assert.is(count(more.map((m) => m.id), 'a'), 2);
    assert.is(a.peak, 2, 'never more than 2 at once');
    assert.equal(refusedBy(tb), {}, 'nobody refused');
  } finally {
    await cleanUp(tb, held.map((h) => h.socket), [a, b]);
  }
});

test('every node full and no queue: refused at once, counted as node-limit', async () => {
  const a = await backend('a');
  const tb = await start([a], { nodes: [{ maxConnections: 2 }] });
  const held = await clients(tb.port, 2);
  try {
    const [refused] = await clients(tb.port, 1);
    assert.is(refused!.id, '', 'closed without a node');
    assert.equal(refusedBy(tb), { 'node-limit': 1 });
    assert.is(a.total, 2);
  } finally {
    await cleanUp(tb, held.map((h) => h.socket), [a]);
  }
});

test('every node full: a queued client is served when a slot frees, in order of arrival', async () => {
  const a = await backend('a');
  const tb = await start([a], { nodes: [{ maxConnections: 1 }], cluster: { queue: { size: 5, timeout: '20s' } } });
  const [first] = await clients(tb.port, 1);
  const second = client(tb.port);
  await waitFor(() => tb.balancer.connections().length === 2, 2000, 'the second client to be accepted');
  const third = client(tb.port);
  await waitFor(() => tb.balancer.connections().length === 3, 2000, 'the third client to be accepted');
  const sockets = [first!.socket, second.socket, third.socket];
  try {
    let secondLanded = false;
    void second.landed.then(() => (secondLanded = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(secondLanded, 'the queued client is not served while the node is full');
    assert.is(a.total, 1);
    first!.socket.destroy();
    assert.is(await withTimeout(second.landed, 5000, 'the queued client'), 'a', 'served by the freed node');
    second.socket.destroy();
    assert.is(await withTimeout(third.landed, 5000, 'the next queued client'), 'a');
    assert.is(a.peak, 1, 'the node never held 2');
    assert.equal(refusedBy(tb), {});
  } finally {
    await cleanUp(tb, sockets, [a]);
  }
});

test('a queued client is refused when its timeout passes, counted as queue-timeout', async () => {
  const a = await backend('a');
  const tb = await start([a], { nodes: [{ maxConnections: 1 }], cluster: { queue: { size: 5, timeout: '300ms' } } });
  const [first] = await clients(tb.port, 1);
  try {
    const started = Date.now();
    const [late] = await clients(tb.port, 1);
    assert.is(late!.id, '', 'closed without a node');
    assert.ok(Date.now() - started >= 250, 'after waiting its timeout');
    assert.equal(refusedBy(tb), { 'queue-timeout': 1 });
    assert.is(a.total, 1);
  } finally {
    await cleanUp(tb, [first!.socket], [a]);
  }
});

test('a full queue refuses at once, counted as queue-full; a client that leaves the queue frees its place', async () => {
  const a = await backend('a');
  const tb = await start([a], { nodes: [{ maxConnections: 1 }], cluster: { queue: { size: 1, timeout: '60s' } } });
  const [first] = await clients(tb.port, 1);
  const waiting = client(tb.port);
  await waitFor(() => tb.balancer.connections().length === 2, 2000, 'the waiting client');
  const sockets = [first!.socket, waiting.socket];
  try {
    const [refused] = await clients(tb.port, 1); // within 10 s, far from the queue's 60 s
    assert.is(refused!.id, '');
    assert.equal(refusedBy(tb), { 'queue-full': 1 });
    waiting.socket.destroy();
    await waitFor(() => tb.balancer.connections().length === 1, 2000, 'the waiting client to be gone');
    const next = client(tb.port);
    sockets.push(next.socket);
    await waitFor(() => tb.balancer.connections().length === 2, 2000, 'a new waiting client');
    first!.socket.destroy();
    assert.is(await withTimeout(next.landed, 5000, 'the new waiting client'), 'a', 'it took the place that was freed');
    assert.equal(refusedBy(tb), { 'queue-full': 1 });
  } finally {
    await cleanUp(tb, sockets, [a]);
  }
});

test('a reload keeps the counts: a client queued after it waits for the connection from before it to end', async () => {
  const a = await backend('a');
  const tb = await start([a], { nodes: [{ maxConnections: 1 }], cluster: { queue: { size: 5, timeout: '20s' } } });
  const [first] = await clients(tb.port, 1);
  const sockets = [first!.socket];
  try {
    await tb.balancer.reload({ ...tb.config, clusters: { c: { ...tb.config.clusters.c!, balance: 'random' } } });
    const queued = client(tb.port);
    sockets.push(queued.socket);
    await waitFor(() => tb.balancer.connections().length === 2, 2000, 'the new client to be accepted');
    let landed = false;
    void queued.landed.then(() => (landed = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(landed, 'the slot taken before the reload still counts');
    first!.socket.destroy();
    // Well within the queue's 20 s: woken by the slot given back, not refused at its timeout.
    assert.is(await withTimeout(queued.landed, 5000, 'the queued client'), 'a');
    assert.is(a.peak, 1);
  } finally {
    await cleanUp(tb, sockets, [a]);
  }
});

test('listener maxConnections: one more is refused as listener-limit; a close lets the next in', async () => {
  const a = await backend('a');
  const tb = await start([a], { listener: { maxConnections: 3 } });
  const held = await clients(tb.port, 3);
  try {
    assert.equal(held.map((h) => h.id), ['a', 'a', 'a']);
    const [refused] = await clients(tb.port, 1);
    assert.is(refused!.id, '');
    assert.equal(refusedBy(tb), { 'listener-limit': 1 });
    held[0]!.socket.destroy();
    await waitFor(() => tb.balancer.connections().length === 2, 2000, 'a slot of the listener to free');
    const [next] = await clients(tb.port, 1);
    held.push(next!);
    assert.is(next!.id, 'a');
    assert.is(a.peak, 3);
  } finally {
    await cleanUp(tb, held.map((h) => h.socket), [a]);
  }
});

test('a client another plugin refuses after the listener slot was taken gives the slot back', async () => {
  const a = await backend('a');
  let refuse = 3;
  const picky = definePlugin({
    name: 'picky',
    enforce: 'post',
    apply: (hooks) => hooks.accept.tap('picky', () => (refuse-- > 0 ? { code: 'picky', message: 'not now' } : undefined)),
  });
  const tb = await start([a], { listener: { maxConnections: 1 }, plugins: [picky] });
  const held: { socket: { destroy(): void } }[] = [];
  try {
    const refused = await clients(tb.port, 3);
    assert.equal(refused.map((r) => r.id), ['', '', '']);
    const [served] = await clients(tb.port, 1);
    held.push(served!);
    assert.is(served!.id, 'a', 'the one slot of the listener is free');
    assert.equal(refusedBy(tb), { picky: 3 });
  } finally {
    await cleanUp(tb, held.map((h) => h.socket), [a]);
  }
});

test('client rate: the address that opened its connections of the window is refused as client-rate; another address is not', async () => {
  const a = await backend('a');
  // A window of 20 days: the test never straddles two.
  const tb = await start([a], { listener: { clientRate: { connections: 3, per: '20d' } } });
  const held: { socket: { destroy(): void } }[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const [c] = await clients(tb.port, 1);
      held.push(c!);
      assert.is(c!.id, 'a');
      c!.socket.destroy(); // closing does not give a connection of the window back
    }
    const [refused] = await clients(tb.port, 1);
    assert.is(refused!.id, '');
    assert.equal(refusedBy(tb), { 'client-rate': 1 });
    const [other] = await clients(tb.port, 1, '127.0.0.2');
    held.push(other!);
    assert.is(other!.id, 'a', 'another client address has its own count');
  } finally {
    await cleanUp(tb, held.map((h) => h.socket), [a]);
  }
});

test.run();
