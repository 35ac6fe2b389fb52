import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net, { type Server, type Socket } from 'node:net';
import type { Config, HealthCheckConfig } from '../../../core/index.ts';
import { oneCluster, startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { closeServer, HOST, portOf, waitFor } from '../../helpers/net.ts';

const INTERVAL = 100;
const NODE = 'c/n0';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Close `server` within a bounded time: the sockets it still holds are destroyed first
 * (a leaked check socket would otherwise keep `close` waiting forever; the tests that care
 * assert that none is left before getting here).
 */
function shut(server: Server): Promise<void> {
  for (const socket of held.get(server) ?? []) socket.destroy();
  return closeServer(server);
}

/** The sockets each test server holds open. */
const held = new WeakMap<Server, Set<Socket>>();

/** A plain TCP server on 127.0.0.1:0 whose sockets `shut` can destroy. */
async function plainServer(onSocket: (socket: Socket) => void): Promise<Server> {
  const open = new Set<Socket>();
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    onSocket(socket);
  });
  held.set(server, open);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return server;
}

/**
 * A node for checks: counts connections, records whether the balancer had the node
 * available when each one arrived, and answers as `reply` says (nothing when undefined).
 */
interface CheckServer {
  server: Server;
  port: number;
  connections: number;
  /** `node.available` at the arrival of each connection, in order. */
  seen: boolean[];
  /** The reply written on each connection, by arrival order (undefined: none). */
  replies: (string | undefined)[];
  /** Bytes received on every connection, concatenated. */
  received: string;
  /** The answer to a connection's first data (or to the connect, when `onConnect`). */
  reply: string | undefined;
  onConnect: boolean;
  open: Set<Socket>;
}

/** Listen on 127.0.0.1:`port` (0: any free port). `available()` is read at each arrival. */
async function startCheckServer(
  available: () => boolean,
  options: { port?: number; reply?: string; onConnect?: boolean } = {},
): Promise<CheckServer> {
  const s = {
    connections: 0,
    seen: [],
    replies: [],
    received: '',
    reply: options.reply,
    onConnect: options.onConnect ?? false,
    open: new Set<Socket>(),
  } as unknown as CheckServer;
  s.server = net.createServer((socket) => {
    socket.on('error', () => {});
    const index = s.connections++;
    s.seen.push(available());
    s.replies.push(undefined);
    s.open.add(socket);
    socket.on('close', () => s.open.delete(socket));
    const answer = () => {
      if (s.reply === undefined) return;
      s.replies[index] ??= s.reply;
      socket.write(s.reply);
    };
    if (s.onConnect) answer();
    socket.on('data', (chunk: Buffer) => {
      s.received += chunk.toString();
      if (!s.onConnect) answer();
    });
  });
  held.set(s.server, s.open);
  await new Promise<void>((resolve, reject) => {
    s.server.once('error', reject);
    s.server.listen(options.port ?? 0, HOST, () => resolve());
  });
  s.port = portOf(s.server);
  return s;
}

function withCheck(port: number, healthCheck: HealthCheckConfig): Config {
  return oneCluster([`${HOST}:${port}`], { healthCheck });
}

const node = (t: TestBalancer) => t.balancer.node(NODE)!;
const available = (t: TestBalancer | undefined) => () => (t ? t.balancer.node(NODE)!.available : true);

const lines = (t: TestBalancer, level: string) =>
  t.logger.lines.filter((l) => l.level === level && l.fields.plugin === 'active-check');

/** A balancer over one node, whose server is made knowing the balancer (late binding). */
async function setUp(
  healthCheck: HealthCheckConfig,
  options: { reply?: string; onConnect?: boolean } = {},
): Promise<{ t: TestBalancer; server: CheckServer }> {
  const ref: { t?: TestBalancer } = {};
  const server = await startCheckServer(() => available(ref.t)(), options);
  ref.t = await startBalancer(withCheck(server.port, healthCheck));
  return { t: ref.t, server };
}

// ─── TCP connect checks ─────────────────────────────────────────────────────

const connect = suite('active-check: TCP connect');

connect('a listening node stays available; the first check runs at once', async () => {
  const { t, server } = await setUp({ interval: '1h' });
  try {
    await waitFor(() => server.connections === 1, 3000, 'the first check');
    await sleep(50);
    assert.is(node(t).available, true);
    assert.is(lines(t, 'warn').length, 0);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

connect('down after `fall` failed checks when the server closes, up after `rise` when it listens again', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, fall: 3, rise: 2 });
  const port = server.port;
  let again: CheckServer | undefined;
  try {
    await waitFor(() => server.connections >= 2, 3000, 'a few checks');
    assert.is(node(t).available, true);
    const closedAt = Date.now();
    await shut(server.server);
    await waitFor(() => !node(t).available, 3000, 'the node marked unavailable');
    const tookMs = Date.now() - closedAt;
    assert.ok(tookMs >= 2 * INTERVAL - 20, `three failed checks take two intervals, took ${tookMs} ms`);
    assert.ok(node(t).retryAt > closedAt + INTERVAL, 'retryAt: an interval after a failed check');
    assert.ok(node(t).retryAt <= Date.now() + INTERVAL, 'retryAt: at most an interval ahead');
    const warn = lines(t, 'warn');
    assert.is(warn.length, 1);
    assert.is(warn[0]!.fields.node, NODE);
    assert.is(warn[0]!.fields.failed, 3);
    assert.match(String(warn[0]!.fields.err), /ECONNREFUSED/);

    // Still down: each failed check pushes retryAt ahead.
    const retryAt = node(t).retryAt;
    await waitFor(() => node(t).retryAt > retryAt, 3000, 'retryAt pushed by the next failed check');
    assert.is(node(t).available, false);

    again = await startCheckServer(available(t), { port });
    await waitFor(() => node(t).available, 3000, 'the node available again');
    assert.is(node(t).retryAt, 0);
    assert.equal(again.seen.slice(0, 2), [false, false], 'one passed check is not enough with rise 2');
    await waitFor(() => again!.connections >= 3, 3000, 'a check after coming back');
    assert.is(again.seen[2], true);
    const info = lines(t, 'info');
    assert.is(info.length, 1);
    assert.is(info[0]!.fields.node, NODE);
    assert.match(info[0]!.msg, /available/);
  } finally {
    await t.stop();
    if (again) await shut(again.server);
    await shut(server.server).catch(() => {});
  }
});

connect('a plain connect passes even when the node never says anything', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, timeout: '50ms', fall: 2 });
  try {
    await waitFor(() => server.connections >= 4, 3000, 'several checks');
    assert.is(node(t).available, true);
    assert.is(lines(t, 'warn').length, 0);
    await waitFor(() => server.open.size === 0, 3000, 'check connections closed by the checker');
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

// ─── send / expect ──────────────────────────────────────────────────────────

const expect = suite('active-check: send and expect');

expect('a node answering PONG to PING passes; one answering otherwise fails after `fall`', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, send: 'PING\n', expect: 'PONG', fall: 2 }, { reply: 'PONG\n' });
  try {
    await waitFor(() => server.connections >= 3, 3000, 'several checks');
    assert.ok(server.received.startsWith('PING\nPING\n'), `the node got ${JSON.stringify(server.received)}`);
    assert.is(node(t).available, true);
    assert.is(lines(t, 'warn').length, 0);

    server.reply = 'NOPE\n';
    await waitFor(() => !node(t).available, 3000, 'the node marked unavailable');
    await waitFor(() => server.connections >= server.replies.indexOf('NOPE\n') + 3, 3000, 'a check after going down');
    // The 1st and 2nd failing check found the node available (fall 2); the next one not.
    const first = server.replies.indexOf('NOPE\n');
    assert.equal(server.seen.slice(first, first + 3), [true, true, false]);
    const warn = lines(t, 'warn');
    assert.is(warn.length, 1);
    assert.match(String(warn[0]!.fields.err), /timed out after 100 ms waiting for "PONG"; it sent "NOPE\\n"/);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

expect('a node answering something else from the start is marked down', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, send: 'PING\n', expect: 'PONG', fall: 2, timeout: '50ms' }, { reply: 'ERR unknown command\n' });
  try {
    await waitFor(() => !node(t).available, 3000, 'the node marked unavailable');
    assert.is(server.seen[1], true, 'one failed check is not enough with fall 2');
    assert.match(String(lines(t, 'warn')[0]!.fields.err), /timed out after 50 ms waiting for "PONG"; it sent "ERR unknown command/);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

expect('a node that closes after answering something else fails at once, naming what it sent', async () => {
  const ref: { t?: TestBalancer } = {};
  const server = await plainServer((socket) => socket.end('HELLO\n'));
  ref.t = await startBalancer(withCheck(portOf(server), { interval: '1h', timeout: '5s', expect: 'READY', fall: 1 }));
  const t = ref.t;
  try {
    await waitFor(() => !node(t).available, 3000, 'the node marked unavailable');
    const err = String(lines(t, 'warn')[0]!.fields.err);
    assert.match(err, /closed without "READY"/);
    assert.match(err, /HELLO/);
  } finally {
    await t.stop();
    await shut(server);
  }
});

expect('expect may arrive split over several chunks, and without send', async () => {
  const server = await plainServer((socket) => {
    socket.write('220 ready, P');
    const timer = setTimeout(() => socket.write('ONG and more'), 20);
    socket.on('close', () => clearTimeout(timer));
  });
  const t = await startBalancer(withCheck(portOf(server), { interval: `${INTERVAL}ms`, expect: 'PONG', fall: 2 }));
  try {
    await sleep(5 * INTERVAL);
    assert.is(node(t).available, true);
    assert.is(lines(t, 'warn').length, 0);
  } finally {
    await t.stop();
    await shut(server);
  }
});

// ─── timeouts ───────────────────────────────────────────────────────────────

const timeouts = suite('active-check: timeouts');

timeouts('a node that accepts but never answers fails by timeout, and its check connections are closed', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, timeout: '50ms', send: 'PING\n', expect: 'PONG', fall: 2 });
  try {
    await waitFor(() => !node(t).available, 3000, 'the node marked unavailable');
    const warn = lines(t, 'warn');
    assert.is(warn.length, 1);
    assert.match(String(warn[0]!.fields.err), /timed out after 50 ms waiting for "PONG"; it sent ""/);
    await waitFor(() => server.connections >= 4, 3000, 'more checks');
    assert.ok(server.open.size <= 1, `at most the check in flight is open, got ${server.open.size}`);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

timeouts('the default timeout is cut to the interval', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, expect: 'PONG', fall: 1 });
  try {
    await waitFor(() => !node(t).available, 3000, 'the node marked unavailable');
    assert.match(String(lines(t, 'warn')[0]!.fields.err), new RegExp(`timed out after ${INTERVAL} ms`));
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

// ─── logging ────────────────────────────────────────────────────────────────

const logging = suite('active-check: logging');

logging('one warning per going down and one info line per coming back, not one per check', async () => {
  // 200ms: a check of a healthy node never times out by accident on a busy machine.
  const { t, server } = await setUp({ interval: '200ms', expect: 'OK', fall: 1, rise: 1 }, { reply: 'OK', onConnect: true });
  try {
    await waitFor(() => server.connections >= 2, 3000, 'a few checks');
    assert.is(lines(t, 'warn').length + lines(t, 'info').length, 0, 'nothing logged while the node is healthy');

    server.reply = 'NO';
    await waitFor(() => !node(t).available, 3000, 'down');
    let seen = server.connections;
    await waitFor(() => server.connections >= seen + 3, 3000, 'more failed checks');
    assert.is(lines(t, 'warn').length, 1);
    assert.is(node(t).available, false);

    server.reply = 'OK';
    await waitFor(() => node(t).available, 3000, 'up');
    seen = server.connections;
    await waitFor(() => server.connections >= seen + 3, 3000, 'more passed checks');
    assert.is(lines(t, 'info').length, 1);

    server.reply = 'NO';
    await waitFor(() => !node(t).available, 3000, 'down again');
    assert.is(lines(t, 'warn').length, 2, 'a second going down is a second warning');
    assert.is(lines(t, 'info').length, 1);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

logging('a node without a port is not checked, and that is logged once', async () => {
  const server = await startCheckServer(() => true);
  const config: Config = {
    listeners: [{ port: 0, host: HOST, cluster: 'c' }],
    clusters: {
      c: { nodes: [{ id: 'n0', address: `${HOST}:${server.port}` }], healthCheck: { interval: `${INTERVAL}ms` } },
      // No single-port listener reaches this cluster, so its node may omit the port.
      p: { nodes: [{ id: 'x', address: HOST }], healthCheck: { interval: `${INTERVAL}ms` } },
    },
  };
  const t = await startBalancer(config);
  try {
    await waitFor(() => server.connections >= 1, 3000, 'the checked node');
    const skipped = () => lines(t, 'warn').filter((l) => l.fields.node === 'p/x');
    assert.is(skipped().length, 1);
    assert.match(skipped()[0]!.msg, /no port/);
    await t.balancer.reload(config);
    await sleep(2 * INTERVAL);
    assert.is(skipped().length, 1, 'not again after a reload');
    assert.is(t.balancer.node('p/x')!.available, true);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

// ─── lifecycle ──────────────────────────────────────────────────────────────

const lifecycle = suite('active-check: lifecycle');

lifecycle('stop() ends checking: the node sees no connection after it', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms` });
  try {
    await waitFor(() => server.connections >= 3, 3000, 'a few checks');
  } finally {
    await t.stop();
  }
  try {
    await sleep(50); // a check dialled just before stop may still be arriving
    const seen = server.connections;
    await sleep(4 * INTERVAL);
    assert.is(server.connections, seen, 'no check after stop');
  } finally {
    await shut(server.server);
  }
});

lifecycle('stop() closes a check in flight', async () => {
  const { t, server } = await setUp({ interval: '1h', timeout: '5s', expect: 'PONG' });
  try {
    await waitFor(() => server.open.size === 1, 3000, 'a check waiting for its answer');
  } finally {
    await t.stop();
  }
  try {
    await waitFor(() => server.open.size === 0, 2000, 'the check connection closed by stop');
    assert.is(lines(t, 'warn').length, 0, 'a stopped check is no failure');
  } finally {
    await shut(server.server);
  }
});

lifecycle('no healthCheck, no checks', async () => {
  const server = await startCheckServer(() => true);
  const t = await startBalancer(oneCluster([`${HOST}:${server.port}`]));
  try {
    await sleep(3 * INTERVAL);
    assert.is(server.connections, 0);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

lifecycle('a reload keeps a node that is down by check down, without a second warning', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms`, expect: 'OK', fall: 1, rise: 2 }, { reply: 'NO', onConnect: true });
  try {
    await waitFor(() => !node(t).available, 3000, 'down');
    await t.balancer.reload(withCheck(server.port, { interval: `${INTERVAL}ms`, expect: 'OK', fall: 1, rise: 2 }));
    const seen = server.connections;
    await waitFor(() => server.connections >= seen + 3, 3000, 'checks of the new generation');
    assert.is(node(t).available, false);
    assert.is(lines(t, 'warn').length, 1);

    server.reply = 'OK';
    await waitFor(() => node(t).available, 3000, 'up again, brought back by the new generation');
    assert.is(lines(t, 'info').length, 1);
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

lifecycle('a reload that removes the healthCheck stops the checks', async () => {
  const { t, server } = await setUp({ interval: `${INTERVAL}ms` });
  try {
    await waitFor(() => server.connections >= 2, 3000, 'a few checks');
    await t.balancer.reload(oneCluster([`${HOST}:${server.port}`]));
    await sleep(50);
    const seen = server.connections;
    await sleep(4 * INTERVAL);
    assert.is(server.connections, seen, 'no check after the reload');
  } finally {
    await t.stop();
    await shut(server.server);
  }
});

connect.run();
expect.run();
timeouts.run();
logging.run();
lifecycle.run();
