import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net, { type Server } from 'node:net';
import { createBalancer, isProtoBalanceError, type Config } from '../../core/index.ts';
import { oneCluster, recordingLogger, startBalancer } from '../helpers/balancer.ts';
import { addr, roundTrip, closeServer, closed, connect, readAll, startEchoServer, waitFor } from '../helpers/net.ts';
import { builtinPlugins } from '../helpers/assembly.ts';


/** Echo once on an open socket. */
function echoOnce(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (d) => resolve(d.toString()));
    socket.write(text);
  });
}

const reload = suite('balancer: reload');

reload('a new generation takes the next connection; an open one keeps its node', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const t = await startBalancer(oneCluster([addr(a)]));
  try {
    const open = await connect(t.port);
    assert.is(await echoOnce(open, 'before'), 'before');
    const next: Config = { ...oneCluster([addr(b)]), listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }] };
    await t.balancer.reload(next);
    assert.is(t.balancer.generation.id, 2);
    assert.is(await roundTrip(t.port, 'after'), 'after');
    assert.is(b.connections, 1);
    assert.is(await echoOnce(open, 'still'), 'still', 'the open connection is untouched');
    assert.is(a.connections, 1);
    open.end();
  } finally {
    await t.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

reload('a failing reload keeps the serving generation', async () => {
  const a = await startEchoServer();
  const t = await startBalancer(oneCluster([addr(a)]));
  try {
    const bad = oneCluster([addr(a)], { balance: 'no-such-algorithm' });
    const err = await t.balancer.reload(bad).then(() => undefined, (e: unknown) => e);
    assert.ok(isProtoBalanceError(err));
    assert.is(err.code, 'PB_ERR_ALGORITHM_UNKNOWN');
    assert.is(t.balancer.generation.id, 1);
    assert.is(await roundTrip(t.port, 'ok'), 'ok');
  } finally {
    await t.stop();
    await closeServer(a);
  }
});

reload('node counters live on across a reload that keeps the node', async () => {
  const a = await startEchoServer();
  const t = await startBalancer(oneCluster([addr(a)]));
  try {
    await roundTrip(t.port, 'one');
    await waitFor(() => t.balancer.node('c/n0')!.activeConnections === 0);
    await t.balancer.reload(oneCluster([addr(a)], { balance: 'random' }));
    assert.is(t.balancer.node('c/n0')!.totalConnections, 1);
    await roundTrip(t.port, 'two');
    assert.is(t.balancer.node('c/n0')!.totalConnections, 2);
  } finally {
    await t.stop();
    await closeServer(a);
  }
});

const states = suite('balancer: node states');

states('red closes the node\'s open connections at once; yellow takes no new ones', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const t = await startBalancer(oneCluster([addr(a), addr(b)]));
  const changes: string[] = [];
  t.balancer.generation.hooks.nodeStateChanged.tap('test', (n, s, p) => void changes.push(`${n.key}:${p}->${s}`));
  try {
    const onA = await connect(t.port);
    assert.is(await echoOnce(onA, 'x'), 'x');
    t.balancer.setNodeState('c/n1', 'yellow');
    for (let i = 0; i < 3; i++) assert.is(await roundTrip(t.port, 'y'), 'y');
    assert.is(b.connections, 0, 'yellow node b got no new connection');
    t.balancer.setNodeState('c/n0', 'red');
    await closed(onA);
    assert.equal(changes, ['c/n1:green->yellow', 'c/n0:green->red']);
  } finally {
    await t.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

const ports = suite('balancer: listeners');

ports('a port range listens on every port, and a node without a port gets the dialled port', async () => {
  // Backends on 127.0.0.2 with the same ports as the balancer's listeners on 127.0.0.1.
  // Bases are drawn below Linux's ephemeral range (32768+) and retried when taken.
  let base = 0;
  const backends: Server[] = [];
  let balancer: ReturnType<typeof createBalancer> | undefined;
  for (let attempt = 0; attempt < 20 && !balancer; attempt++) {
    base = 20_000 + Math.floor(Math.random() * 12_000);
    for (const s of backends.splice(0)) await closeServer(s);
    for (let p = base; p < base + 3; p++) {
      const server = net.createServer((s) => s.end(`port ${p}`));
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(p, '127.0.0.2', () => resolve(true));
      });
      if (!ok) break;
      backends.push(server);
    }
    if (backends.length < 3) continue;
    const candidate = createBalancer(
      {
        listeners: [{ port: `${base}-${base + 2}`, host: '127.0.0.1', cluster: 'ftp' }],
        clusters: { ftp: { nodes: [{ id: 'x', address: '127.0.0.2' }] } },
      },
      { logger: recordingLogger(), builtins: builtinPlugins() },
    );
    const addresses = await candidate.start().catch(() => undefined);
    if (!addresses) continue;
    assert.equal(addresses.map((a) => a.port), [base, base + 1, base + 2]);
    balancer = candidate;
  }
  assert.ok(balancer, 'three consecutive free ports on 127.0.0.1 and 127.0.0.2');
  try {
    for (let p = base; p < base + 3; p++) {
      const socket = await connect(p);
      assert.is((await readAll(socket)).toString(), `port ${p}`);
    }
  } finally {
    await balancer!.stop(100);
    for (const s of backends) await closeServer(s);
  }
});

reload.run();
states.run();
ports.run();
