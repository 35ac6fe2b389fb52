import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net, { type Server } from 'node:net';
import type { Config } from '../../core/index.ts';
import { startBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { addr, closeServer, connect, freePort, HOST, readAll, roundTrip, startEchoServer, startServer, waitFor } from '../helpers/net.ts';

/** A cluster `c` of named nodes; `fallover` maps a node id to its fall-over node id. */
function cluster(nodes: Record<string, string>, fallover: Record<string, string> = {}, extra: Partial<Config> = {}): Config {
  return {
    listeners: [{ port: 0, host: HOST, cluster: 'c' }],
    clusters: { c: { nodes: Object.entries(nodes).map(([id, address]) => ({ id, address, ...(fallover[id] ? { fallover: fallover[id] } : {}) })) } },
    ...extra,
  };
}

/** A node that sends its greeting first (server-first, like SMTP) then echoes. */
async function greeter(name: string): Promise<Server & { connections: number }> {
  const server = (await startServer((s) => {
    server.connections++;
    s.write(`220 ${name} ready\r\n`);
    s.pipe(s);
  })) as Server & { connections: number };
  server.connections = 0;
  return server;
}

/** A node that accepts, then resets (or closes) at once without a byte. */
async function dropper(how: 'reset' | 'close'): Promise<Server & { connections: number }> {
  const server = (await startServer((s) => {
    server.connections++;
    if (how === 'reset') s.resetAndDestroy();
    else s.end();
  })) as Server & { connections: number };
  server.connections = 0;
  return server;
}

/** The greeting a server-first client gets. */
async function greeting(t: TestBalancer): Promise<string> {
  const socket = await connect(t.port);
  const line = await new Promise<string>((resolve, reject) => {
    socket.once('data', (d) => resolve(d.toString()));
    socket.once('close', () => reject(new Error('closed without a greeting')));
  });
  socket.destroy();
  return line;
}

const kinds = suite('fall-over: each way a node can fail before any byte');

for (const kind of ['refused', 'reset on accept', 'closed on accept'] as const) {
  kinds(`${kind}: the client gets the fall-over node's greeting, and notices nothing else`, async () => {
    const bad = kind === 'refused' ? undefined : await dropper(kind === 'reset on accept' ? 'reset' : 'close');
    const badAddress = bad ? addr(bad) : `${HOST}:${await freePort()}`;
    const good = await greeter('b');
    const t = await startBalancer(cluster({ a: badAddress, b: addr(good) }, { a: 'b' }));
    try {
      assert.is(await greeting(t), '220 b ready\r\n');
      if (bad) assert.is(bad.connections, 1, 'the bad node was tried first');
      assert.is(t.balancer.node('c/a')!.available, false);
      assert.ok(t.logger.lines.some((l) => l.fields.node === 'c/a' && l.msg === 'node unavailable for this connection'));
    } finally {
      await t.stop();
      await closeServer(good);
      if (bad) await closeServer(bad);
    }
  });
}

kinds('client bytes sent early arrive intact at the fall-over node (client-first)', async () => {
  const echo = await startEchoServer();
  const t = await startBalancer(cluster({ a: `${HOST}:${await freePort()}`, b: addr(echo) }, { a: 'b' }));
  try {
    const request = `GET / HTTP/1.0\r\nHost: x\r\n\r\n${'y'.repeat(20_000)}`;
    assert.is(await roundTrip(t.port, request), request);
  } finally {
    await t.stop();
    await closeServer(echo);
  }
});

kinds('once a byte has passed there is no fall-over: the client is closed like the node', async () => {
  const talker = await startServer((s) => s.end('partial answer'));
  const other = await startEchoServer();
  const t = await startBalancer(cluster({ a: addr(talker), b: addr(other) }, { a: 'b' }));
  try {
    const socket = await connect(t.port, { allowHalfOpen: true });
    assert.is((await readAll(socket)).toString(), 'partial answer');
    assert.is(other.connections, 0);
  } finally {
    await t.stop();
    await closeServer(talker);
    await closeServer(other);
  }
});

const chains = suite('fall-over: chains, clusters, retries');

chains('a -> b -> c with a and b down reaches c, not the algorithm\'s next node', async () => {
  const c = await greeter('c');
  const d = await greeter('d');
  const t = await startBalancer(
    cluster({ a: `${HOST}:${await freePort()}`, b: `${HOST}:${await freePort()}`, c: addr(c), d: addr(d) }, { a: 'b', b: 'c' }),
  );
  try {
    assert.is(await greeting(t), '220 c ready\r\n');
    assert.is(d.connections, 0);
  } finally {
    await t.stop();
    await closeServer(c);
    await closeServer(d);
  }
});

chains('every node down: the client is closed promptly and the log says why', async () => {
  const t = await startBalancer(cluster({ a: `${HOST}:${await freePort()}`, b: `${HOST}:${await freePort()}` }, { a: 'b' }));
  try {
    const socket = await connect(t.port);
    await new Promise((resolve) => socket.once('close', resolve));
    await waitFor(() => t.logger.lines.some((l) => l.msg.startsWith('no node could be reached (tried c/a, c/b')), 2000, 'the log line');
  } finally {
    await t.stop();
  }
});

chains('a fall-over cluster takes the clients when none of the cluster\'s nodes answers', async () => {
  const backup = await greeter('backup');
  const t = await startBalancer({
    listeners: [{ port: 0, host: HOST, cluster: 'web' }],
    clusters: {
      web: { fallover: 'spare', nodes: [{ id: 'a', address: `${HOST}:${await freePort()}` }] },
      spare: { nodes: [{ id: 'x', address: addr(backup) }] },
    },
  });
  try {
    assert.is(await greeting(t), '220 backup ready\r\n');
  } finally {
    await t.stop();
    await closeServer(backup);
  }
});

chains('a node down is skipped until the retry interval, then used again', async () => {
  const port = await freePort();
  const b = await greeter('b');
  const t = await startBalancer(cluster({ a: `${HOST}:${port}`, b: addr(b) }, {}, { retryInterval: '400ms' }));
  let a: Server | undefined;
  try {
    assert.is(await greeting(t), '220 b ready\r\n', 'a refused, b answered');
    a = net.createServer((s) => s.end('220 a ready\r\n'));
    await new Promise<void>((resolve) => a!.listen(port, HOST, resolve));
    for (let i = 0; i < 3; i++) assert.is(await greeting(t), '220 b ready\r\n', 'a is skipped while marked down');
    await new Promise((r) => setTimeout(r, 450));
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await greeting(t));
    assert.ok(seen.has('220 a ready\r\n'), 'a is used again after the retry interval');
    assert.is(t.balancer.node('c/a')!.available, true);
  } finally {
    await t.stop();
    await closeServer(b);
    if (a) await closeServer(a);
  }
});

chains('all nodes marked down: a new client still tries them, so a restarted lone node serves at once', async () => {
  const port = await freePort();
  const t = await startBalancer(cluster({ a: `${HOST}:${port}` }, {}, { retryInterval: '1h' }));
  let a: Server | undefined;
  try {
    const first = await connect(t.port);
    await new Promise((resolve) => first.once('close', resolve));
    assert.is(t.balancer.node('c/a')!.available, false);
    a = await startEchoServerOn(port);
    assert.is(await roundTrip(t.port, 'back'), 'back');
  } finally {
    await t.stop();
    if (a) await closeServer(a);
  }
});

async function startEchoServerOn(port: number): Promise<Server> {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(port, HOST, resolve));
  return server;
}

const states = suite('node states: yellow and red, live and across restarts');

states('yellow: open connections keep carrying data; new ones go to its fall-over node', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const c = await startEchoServer();
  const t = await startBalancer(cluster({ a: addr(a), b: addr(b), c: addr(c) }, { a: 'c' }));
  try {
    const open = await connect(t.port);
    const echo = (text: string) =>
      new Promise<string>((resolve) => {
        open.once('data', (d) => resolve(d.toString()));
        open.write(text);
      });
    assert.is(await echo('one'), 'one');
    assert.is(a.connections, 1);
    t.balancer.setNodeState('c/a', 'yellow');
    const before = { b: b.connections, c: c.connections };
    for (let i = 0; i < 6; i++) await roundTrip(t.port, 'x');
    assert.is(a.connections, 1, 'no new connection on the yellow node');
    assert.is(c.connections - before.c, 4, 'a\'s turns went to its fall-over node c, beside c\'s own');
    assert.is(b.connections - before.b, 2);
    assert.is(await echo('still'), 'still', 'the open connection lives on');
    open.destroy();
  } finally {
    await t.stop();
    for (const s of [a, b, c]) await closeServer(s);
  }
});

states('red: open connections close at once, new ones go elsewhere; the state survives a restart', async () => {
  const a = await startEchoServer();
  const b = await startEchoServer();
  const config = { ...cluster({ a: addr(a), b: addr(b) }), stateDir: (await import('../helpers/tmp.ts')).tmpDir() };
  let t = await startBalancer(config);
  try {
    const open = await connect(t.port);
    open.on('error', () => {});
    await roundTrip(t.port, 'warm'); // round robin: open went to a, this one to b
    t.balancer.setNodeState('c/a', 'red');
    await new Promise((resolve) => open.once('close', resolve));
    const before = a.connections;
    for (let i = 0; i < 3; i++) assert.is(await roundTrip(t.port, 'z'), 'z');
    assert.is(a.connections, before);
    await t.stop();
    t = await startBalancer(config);
    assert.is(t.balancer.node('c/a')!.state, 'red', 'restored from the state directory');
    for (let i = 0; i < 3; i++) await roundTrip(t.port, 'w');
    assert.is(a.connections, before);
  } finally {
    await t.stop();
    await closeServer(a);
    await closeServer(b);
  }
});

kinds.run();
chains.run();
states.run();

const probes = suite('fall-over: what is not a node failure');

probes('a client that connects and closes without a byte does not mark the node down', async () => {
  const node = await startServer((s) => s.on('end', () => s.end()));
  const t = await startBalancer(cluster({ a: addr(node) }));
  try {
    for (let i = 0; i < 3; i++) {
      const socket = await connect(t.port, { allowHalfOpen: true });
      socket.end();
      await new Promise((resolve) => socket.once('close', resolve));
    }
    await waitFor(() => t.balancer.connections().length === 0, 2000, 'the connections to end');
    assert.is(t.balancer.node('c/a')!.available, true);
    assert.is(t.balancer.node('c/a')!.failures, 0);
  } finally {
    await t.stop();
    await closeServer(node);
  }
});

probes.run();
