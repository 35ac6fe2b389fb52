import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'node:net';
import { oneCluster, startBalancer } from '../../helpers/balancer.ts';
import { addr, closeServer, closed, connect, roundTrip, startEchoServer, waitFor, withTimeout } from '../../helpers/net.ts';

/** Write to an echoing socket and read the echo, with backpressure, until `ms` have passed. */
async function pump(socket: Socket, ms: number): Promise<{ sent: number; received: number; seconds: number }> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let received = 0;
  socket.on('data', (d: Buffer) => (received += d.length));
  let sent = 0;
  const start = Date.now();
  const deadline = start + ms;
  while (Date.now() < deadline) {
    sent += chunk.length;
    if (!socket.write(chunk)) await withTimeout(new Promise((r) => socket.once('drain', r)), 2000, 'drain');
  }
  return { sent, received, seconds: (Date.now() - start) / 1000 };
}

const e2e = suite('traffic-rate through a real balancer');

e2e('after bulk traffic through one node, new connections prefer the idle one', async () => {
  const servers = [await startEchoServer(), await startEchoServer()];
  const t = await startBalancer({ ...oneCluster(servers.map(addr), { balance: 'traffic-rate' }), rateWindow: '2s' });
  const bulk = await connect(t.port);
  try {
    const nodes = [t.balancer.node('c/n0')!, t.balancer.node('c/n1')!];
    await waitFor(() => nodes.some((n) => n.activeConnections === 1), 2000, 'the bulk connection');
    const busy = nodes.findIndex((n) => n.activeConnections === 1);
    const idle = 1 - busy;

    const moved = await pump(bulk, 2500);
    const throughput = (moved.sent + moved.received) / moved.seconds;
    await waitFor(() => nodes[busy]!.bytesRate > 0, 3000, 'a sampled byte rate');
    const rate = nodes[busy]!.bytesRate;
    assert.ok(rate > 0.2 * throughput && rate < 1.5 * throughput, `bytesRate ${rate.toFixed(0)} B/s vs measured ${throughput.toFixed(0)} B/s`);
    assert.is(nodes[idle]!.bytesRate, 0);
    assert.ok(nodes[busy]!.connectionRate > 0);
    assert.is(nodes[idle]!.connectionRate, 0);

    // Six new short connections, one after another, the bulk one still open.
    const order: number[] = [];
    for (let i = 0; i < 6; i++) {
      const counts = servers.map((s) => s.connections);
      assert.is(await withTimeout(roundTrip(t.port, `hello ${i}`), 2000, 'a round trip'), `hello ${i}`);
      order.push(servers.findIndex((s, k) => s.connections > counts[k]!));
    }
    assert.is(order[0], idle, `the first new connection goes to the idle node (order ${order})`);
    const toIdle = order.filter((x) => x === idle).length;
    assert.ok(toIdle >= 4, `the idle node took ${toIdle} of 6 (order ${order})`);
  } finally {
    bulk.destroy();
    await closed(bulk);
    await t.stop();
    for (const s of servers) await closeServer(s);
  }
});

e2e.run();
