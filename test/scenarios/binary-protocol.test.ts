/**
 * IIOP- and T3-like traffic through a real balancer (`protobalance start`, two processes):
 * a binary, length-prefixed protocol of our own (test/helpers/framed-protocol.ts) where the
 * server speaks first, both sides send messages of several MB at the same time, connections
 * stay open across quiet spells shorter than the balancer's idleTimeout, and every frame is
 * checked (sequence, sha256, connection tag) on both ends. Also: the greeting reaches a client
 * that never writes, and a connection quiet for longer than idleTimeout is closed.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startBalancer, oneCluster } from '../helpers/balancer.ts';
import { startCli, stopBalancer, type Running } from '../helpers/cli.ts';
import { startedOnce } from '../helpers/suite-setup.ts';
import {
  connectFramed,
  converse,
  FrameType,
  startFramedServer,
  type ConversationPlan,
  type ConversationResult,
  type FramedServer,
} from '../helpers/framed-protocol.ts';
import { closed, freePort, waitFor, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const MB = 1024 * 1024;
/** The balancer's idleTimeout, set explicitly: the quiet spells below stay well under it. */
const IDLE_TIMEOUT = '5s';
const QUIET_MS = 2_500;
const CONNECTIONS = 16;

const PLAN: ConversationPlan = {
  bursts: [
    // Right after its greeting the server sends 1 MB unasked; the client only ends the burst.
    { client: [], server: [1 * MB] },
    { client: [3 * MB, MB / 2, 2 * MB], server: [2 * MB, 3 * MB, MB / 4] },
    { client: [4 * MB, 64 * 1024], server: [4 * MB] },
  ],
  idleMs: QUIET_MS,
  waitMs: 20_000,
};
const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);

interface Context {
  nodes: FramedServer[];
  balancer: Running;
  port: number;
}

const scenario = suite<Context>('binary protocol: server-first, large messages both ways, quiet spells');

async function stopAll(context: Partial<Context>): Promise<void> {
  try {
    if (context.balancer) await stopBalancer(context.balancer);
  } finally {
    await Promise.all((context.nodes ?? []).map((n) => n.close()));
  }
}

async function startEverything(context: Context): Promise<void> {
  context.nodes = [await startFramedServer(PLAN), await startFramedServer(PLAN)];
  context.port = await freePort();
  const config = {
    listeners: [{ name: 'framed', port: context.port, host: '127.0.0.1', cluster: 'framed' }],
    clusters: { framed: { balance: 'round-robin', nodes: context.nodes.map((n, i) => ({ id: `n${i}`, address: `127.0.0.1:${n.port}` })) } },
    idleTimeout: IDLE_TIMEOUT,
    workers: 2,
    admin: false,
    watch: false,
    drainTimeout: '2s',
    stateDir: './state',
  };
  const dir = tmpDir();
  writeFileSync(path.join(dir, 'protobalance.config.ts'), `export default ${JSON.stringify(config, null, 2)};\n`);
  context.balancer = startCli(['start'], {}, dir);
  await context.balancer.waitForOutput('processes serving', 30_000);
}

startedOnce(scenario, startEverything, stopAll);

/** Server results, once `count` conversations have ended on the nodes (bounded wait). */
async function serverResults(context: Context, count: number): Promise<ConversationResult[]> {
  const all = () => context.nodes.flatMap((n) => n.results);
  await waitFor(() => all().length >= count, 20_000, `${count} conversations to end on the nodes`);
  return all();
}

scenario('the greeting and the server-first megabyte reach clients that never write', async (context) => {
  const clients = await Promise.all(Array.from({ length: 4 }, () => connectFramed(context.port)));
  try {
    for (const client of clients) {
      const greeting = await client.next(FrameType.GREETING, 5_000);
      assert.match(greeting.payload.toString(), /^FRAMED\/1 ready/);
      const data = await client.next(FrameType.DATA, 5_000);
      assert.is(data.payload.length, PLAN.bursts[0]!.server[0]);
      await client.next(FrameType.MARK, 5_000);
      assert.is(client.socket.bytesWritten, 0, 'the client wrote nothing');
      assert.equal(client.result.errors, []);
    }
  } finally {
    for (const client of clients) client.socket.destroy();
  }
  // The nodes' side of these four ends when the clients leave; clear it for the next test.
  await serverResults(context, clients.length);
  for (const node of context.nodes) node.results.length = 0;
});

/** `count` clients run PLAN at once through `port` to `nodes`; both ends of each are checked. */
async function assertConversations(nodes: FramedServer[], port: number, count: number): Promise<void> {
  const acceptedBefore = nodes.map((n) => n.accepted);
  const resultsBefore = nodes.map((n) => n.results.length);
  const started = Date.now();
  const clients = await Promise.all(Array.from({ length: count }, async () => converse(await connectFramed(port), PLAN)));
  const all = () => nodes.flatMap((n, i) => n.results.slice(resultsBefore[i]));
  await waitFor(() => all().length >= count, 20_000, `${count} conversations to end on the nodes`);
  const servers = all();
  const elapsed = Date.now() - started;

  assert.equal(clients.flatMap((r) => r.errors.map((e) => `client ${r.tag}: ${e}`)), []);
  assert.equal(servers.flatMap((r) => r.errors.map((e) => `server ${r.tag}: ${e}`)), []);
  // Each client talked to exactly one node connection, and no connection was opened twice.
  assert.equal(clients.map((r) => r.tag).sort(), servers.map((r) => r.tag).sort());
  const accepted = nodes.map((n, i) => n.accepted - acceptedBefore[i]!);
  assert.is(sum(accepted), count, `accepted per node: ${accepted.join(', ')}`);
  assert.ok(accepted.every((a) => a > 0), `every node served: ${accepted.join(', ')}`);

  // Greeting + per burst (DATA frames + MARK) + BYE; all the planned bytes.
  const framesFrom = (side: 'client' | 'server') => PLAN.bursts.reduce((n, b) => n + b[side].length + 1, 1);
  for (const r of clients) {
    assert.is(r.framesReceived, 1 + framesFrom('server'), `client ${r.tag}`);
    assert.is(r.dataBytesReceived, sum(PLAN.bursts.flatMap((b) => b.server)));
  }
  for (const r of servers) {
    assert.is(r.framesReceived, framesFrom('client'), `server ${r.tag}`);
    assert.is(r.dataBytesReceived, sum(PLAN.bursts.flatMap((b) => b.client)));
  }
  // Both ways at once: on every connection, each side received while still sending its burst.
  const overlaps = [...clients, ...servers].map((r) => r.bytesReceivedWhileSending);
  assert.ok(overlaps.every((bytes) => bytes > 0), `bytes received while sending: ${overlaps.join(' ')}`);
  // Long-lived: every connection outlasted both quiet spells.
  const quiet = QUIET_MS * (PLAN.bursts.length - 1);
  assert.ok(clients.every((r) => r.endedAt - r.startedAt >= quiet), clients.map((r) => r.endedAt - r.startedAt).join(' '));
  assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
}

scenario(`${CONNECTIONS} long-lived connections: MBs both ways at once, quiet spells, every frame checked`, async (context) => {
  await assertConversations(context.nodes, context.port, CONNECTIONS);
});

scenario('the same on the public net data path (an in-process balancer)', async () => {
  const nodes = [await startFramedServer(PLAN), await startFramedServer(PLAN)];
  const balancer = await startBalancer({ ...oneCluster(nodes.map((n) => `127.0.0.1:${n.port}`)), idleTimeout: IDLE_TIMEOUT, dataPath: 'net' });
  try {
    assert.is(balancer.balancer.dataPath.name, 'net');
    await assertConversations(nodes, balancer.port, CONNECTIONS / 2);
  } finally {
    await balancer.stop();
    await Promise.all(nodes.map((n) => n.close()));
  }
});

scenario('a connection quiet for longer than idleTimeout is closed, on both sides', async () => {
  const node = await startFramedServer(PLAN);
  const balancer = await startBalancer({ ...oneCluster([`127.0.0.1:${node.port}`]), idleTimeout: '1s' });
  try {
    const client = await connectFramed(balancer.port);
    await client.next(FrameType.GREETING, 5_000);
    await client.next(FrameType.DATA, 5_000);
    await client.next(FrameType.MARK, 5_000);
    const lastByte = Date.now();
    // Both sides now wait for each other: the connection is silent until the balancer acts.
    await withTimeout(closed(client.socket), 5_000, 'the balancer to close the idle connection');
    const after = Date.now() - lastByte;
    assert.ok(after >= 900 && after < 4_000, `closed ${after} ms after the last byte`);
    await waitFor(() => node.results.length === 1, 5_000, 'the node side to close');
    assert.match(node.results[0]!.errors.join(' '), /connection closed/);
  } finally {
    await balancer.stop();
    await node.close();
  }
});

scenario.run();
