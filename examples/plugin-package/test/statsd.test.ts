/**
 * The plugin against a real balancer and a real UDP socket: a StatsD stand-in on
 * 127.0.0.1:0 collects the datagrams, a TCP echo server is the node, clients connect
 * through the balancer. Run with `npm test` (it builds first: the test loads dist/, what
 * is published).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBalancer, type Balancer, type Plugin } from 'protobalance';
import { builtinPlugins } from 'protobalance/builtins';
import { pack, StatsdClient } from '../src/client.js';

const PLUGIN = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** A StatsD stand-in: every line of every datagram, and the datagrams themselves. */
async function statsdServer() {
  const socket = dgram.createSocket('udp4');
  const datagrams: string[] = [];
  socket.on('message', (msg) => datagrams.push(msg.toString()));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const lines = () => datagrams.flatMap((d) => d.split('\n'));
  /** The sum of every `name:N|c` received. */
  const counter = (name: string) =>
    lines()
      .filter((l) => l.startsWith(`${name}:`) && l.endsWith('|c'))
      .reduce((sum, l) => sum + Number(l.slice(name.length + 1, -2)), 0);
  const last = (name: string, type: string) => lines().filter((l) => l.startsWith(`${name}:`) && l.endsWith(`|${type}`)).at(-1);
  return { socket, port: socket.address().port, datagrams, lines, counter, last };
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connect to the balancer, send `text`, end, and read the answer to its end. */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(text));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('pack: lines joined by newlines, never past the size, a long line alone', () => {
  const packets = pack(['a:1|c', 'b:2|c', 'c:3|c', 'a-very-long-name:1|c'], 12);
  assert.deepEqual(
    packets.map((p) => p.toString()),
    ['a:1|c\nb:2|c', 'c:3|c', 'a-very-long-name:1|c'],
  );
});

test('client: counters summed, gauges last, timers each, in one datagram per flush', async () => {
  const server = await statsdServer();
  const client = new StatsdClient({ host: '127.0.0.1', port: server.port, interval: 20, maxPacket: 1432, droppedName: 'x.dropped', onError: () => {} });
  try {
    client.count('x.c');
    client.count('x.c', 2);
    client.gauge('x.g', 1);
    client.gauge('x.g', 2);
    client.timing('x.t', 5);
    client.timing('x.t', 7.4);
    await until(() => server.datagrams.length === 1, 'one datagram');
    assert.deepEqual(server.datagrams[0]!.split('\n'), ['x.c:3|c', 'x.g:2|g', 'x.t:5|ms', 'x.t:7|ms']);
  } finally {
    await client.close();
    server.socket.close();
  }
});

let server: Awaited<ReturnType<typeof statsdServer>>;
let echo: net.Server;
let balancer: Balancer;
let ports: Map<string, number>;
let stateDir: string;

before(async () => {
  server = await statsdServer();
  echo = net.createServer((s) => s.pipe(s).on('error', () => {}));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const dead = net.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadPort = (dead.address() as net.AddressInfo).port;
  await new Promise((resolve) => dead.close(resolve)); // nothing listens there any more
  const echoPort = (echo.address() as net.AddressInfo).port;
  // Turns away every client of the listener named `closed`: an `accept` refusal.
  const refuse: Plugin = {
    name: 'refuse-closed',
    apply: (hooks) => void hooks.accept.tap('refuse-closed', (ctx) => (ctx.client.listener === 'closed' ? 'closed for the test' : undefined)),
  };
  stateDir = mkdtempSync(path.join(tmpdir(), 'statsd-test-'));
  balancer = createBalancer(
    {
      listeners: [
        { name: 'front', port: 0, host: '127.0.0.1', cluster: 'web' },
        { name: 'closed', port: 0, host: '127.0.0.1', cluster: 'web' },
        { name: 'spare', port: 0, host: '127.0.0.1', cluster: 'spare' },
      ],
      clusters: {
        // `down` is dialled first (its refusal falls over to `up`) for one client in two.
        web: { nodes: [{ id: 'down', address: `127.0.0.1:${deadPort}`, fallover: 'up' }, { id: 'up', address: `127.0.0.1:${echoPort}` }] },
        // Its only node is yellow (set below): no new client has a node.
        spare: { nodes: [{ id: 'off', address: `127.0.0.1:${echoPort}` }] },
      },
      stateDir,
      retryInterval: '1h',
      log: { level: 'silent' },
      plugins: [refuse, [PLUGIN, { port: server.port, prefix: 'pb', interval: '50ms' }]],
    },
    { builtins: builtinPlugins() },
  );
  ports = new Map((await balancer.start()).map((a) => [a.listener, a.port]));
  balancer.setNodeState('spare/off', 'yellow');
});

after(async () => {
  await balancer?.stop(200);
  await new Promise((resolve) => echo?.close(resolve));
  server?.socket.close();
  rmSync(stateDir, { recursive: true, force: true });
});

test('node states are gauges from the start', async () => {
  await until(() => server.last('pb.node.web.up.state', 'g') !== undefined, 'the state gauge of web/up');
  assert.equal(server.last('pb.node.web.down.state', 'g'), 'pb.node.web.down.state:0|g');
});

test('connections, bytes and durations per node and per listener; a fall-over per failed node', async () => {
  for (let i = 0; i < 3; i++) assert.equal(await roundTrip(ports.get('front')!, `hello ${i}`), `hello ${i}`);
  await until(() => server.counter('pb.listener.front.connections') === 3, 'three connections of listener front');
  await until(() => server.counter('pb.listener.front.outcome.closed') === 3, 'three closed outcomes');
  assert.equal(server.counter('pb.node.web.up.connections'), 3);
  assert.equal(server.counter('pb.node.web.down.connections'), 0);
  assert.equal(server.counter('pb.node.web.up.bytes_from_client'), 3 * 'hello 0'.length);
  assert.equal(server.counter('pb.node.web.up.bytes_to_client'), 3 * 'hello 0'.length);
  assert.equal(server.counter('pb.listener.front.bytes_to_client'), 3 * 'hello 0'.length);
  const durations = server.lines().filter((l) => /^pb\.node\.web\.up\.duration:\d+\|ms$/.test(l));
  assert.equal(durations.length, 3, server.lines().join('\n'));
  assert.equal(server.lines().filter((l) => /^pb\.listener\.front\.duration:\d+\|ms$/.test(l)).length, 3);
  // `down` refused the first client it was chosen for, then was unavailable (retry in 1h).
  assert.equal(server.counter('pb.node.web.down.fallovers'), 1);
  // Several metrics share a datagram.
  assert.ok(server.datagrams.some((d) => d.split('\n').length > 3), server.datagrams.join('\n---\n'));
});

test('refusals and no-node outcomes per listener', async () => {
  await roundTrip(ports.get('closed')!, 'x');
  await roundTrip(ports.get('spare')!, 'x');
  await until(() => server.counter('pb.listener.closed.outcome.refused') === 1, 'a refusal of listener closed');
  await until(() => server.counter('pb.listener.spare.outcome.no-node') === 1, 'a no-node outcome of listener spare');
  assert.equal(server.counter('pb.listener.closed.connections'), 0);
});

test('a node state change is a gauge', async () => {
  balancer.setNodeState('web/up', 'yellow');
  await until(() => server.last('pb.node.web.up.state', 'g') === 'pb.node.web.up.state:1|g', 'web/up yellow');
  balancer.setNodeState('web/up', 'green');
  await until(() => server.last('pb.node.web.up.state', 'g') === 'pb.node.web.up.state:0|g', 'web/up green again');
});
