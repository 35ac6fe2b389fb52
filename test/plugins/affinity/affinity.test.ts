import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import net, { type Server } from 'node:net';
import path from 'node:path';
import type { Config } from '../../../core/index.ts';
import { affinityStore, openAffinityDatabases } from '../../../plugins/affinity/index.ts';
import { oneCluster, startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { addr, closeServer, startServer, answerFrom, answersFrom } from '../../helpers/net.ts';
import { tmpDir } from '../../helpers/tmp.ts';

/** Nodes that write their own id to every connection and close it. */
async function startNodes(count: number): Promise<Server[]> {
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) servers.push(await startServer((socket) => socket.end(`n${i}`)));
  return servers;
}


function withAffinity(servers: Server[], stateDir: string, affinity: NonNullable<Config['clusters'][string]['affinity']> = {}): Config {
  return { ...oneCluster(servers.map(addr), { affinity: { enabled: true, ...affinity } }), stateDir };
}

function storedBindings(stateDir: string): Record<string, string> {
  const db = new Database(path.join(stateDir, 'affinity.db'), { readonly: true });
  try {
    const rows = db.prepare<[], { client: string; node: string }>("SELECT client, node FROM affinity WHERE cluster = 'c'").all();
    return Object.fromEntries(rows.map((r) => [r.client, r.node]));
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const test = suite('affinity: through a balancer');

let servers: Server[] = [];
let running: TestBalancer[] = [];

test.after.each(async () => {
  for (const t of running.splice(0)) await t.stop();
  for (const s of servers.splice(0)) await closeServer(s);
});

async function start(config: Config): Promise<TestBalancer> {
  const t = await startBalancer(config);
  running.push(t);
  return t;
}

async function stop(t: TestBalancer): Promise<void> {
  running = running.filter((r) => r !== t);
  await t.stop();
}

test('without affinity, round robin alternates; with it, each client sticks to one node', async () => {
  servers = await startNodes(2);
  const plain = await start({ ...oneCluster(servers.map(addr)), stateDir: tmpDir() });
  assert.equal(await answersFrom(plain.port, '127.0.0.1', 4), ['n0', 'n1', 'n0', 'n1']);
  await stop(plain);

  const stateDir = tmpDir();
  const t = await start(withAffinity(servers, stateDir));
  const first = await answersFrom(t.port, '127.0.0.1', 20);
  assert.equal(first, Array(20).fill('n0'));
  const second = await answersFrom(t.port, '127.0.0.2', 20);
  assert.equal(second, Array(20).fill('n1'));
  // Interleaved, each keeps its own.
  for (let i = 0; i < 5; i++) {
    assert.is(await answerFrom(t.port, '127.0.0.1'), 'n0');
    assert.is(await answerFrom(t.port, '127.0.0.2'), 'n1');
  }
  assert.is(affinityStore(stateDir)?.get('c', '127.0.0.2'), 'n1');
});

test('bindings survive a restart of the balancer on the same stateDir', async () => {
  servers = await startNodes(3);
  const stateDir = tmpDir();
  const first = await start(withAffinity(servers, stateDir));
  const clients = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const bound: Record<string, string> = {};
  for (const client of clients) bound[client] = await answerFrom(first.port, client);
  assert.equal(bound, { '127.0.0.2': 'n0', '127.0.0.3': 'n1', '127.0.0.4': 'n2' });
  await stop(first);
  assert.equal(openAffinityDatabases(), []); // the last generation closed it
  assert.equal(storedBindings(stateDir), bound);

  // A fresh round robin would give 127.0.0.4 n0, 127.0.0.2 n1, 127.0.0.3 n2: every one differs.
  const second = await start(withAffinity(servers, stateDir));
  for (const client of ['127.0.0.4', '127.0.0.2', '127.0.0.3']) {
    assert.equal(await answersFrom(second.port, client, 5), Array(5).fill(bound[client]), client);
  }
  // A new client is balanced as usual.
  assert.is(await answerFrom(second.port, '127.0.0.9'), 'n0');
});

test('after ttl without a connection, the client is balanced afresh', async () => {
  servers = await startNodes(2);
  const t = await start(withAffinity(servers, tmpDir(), { ttl: '200ms' }));
  // Each connection refreshes the binding, so it holds while the client keeps coming.
  for (let i = 0; i < 5; i++) {
    assert.is(await answerFrom(t.port, '127.0.0.2'), 'n0');
    await sleep(50);
  }
  await sleep(300);
  // Expired: round robin chooses again, and its cursor is on n1 now.
  assert.is(await answerFrom(t.port, '127.0.0.2'), 'n1');
  assert.equal(await answersFrom(t.port, '127.0.0.2', 5), Array(5).fill('n1'));
});

test('a bound node set yellow: the client goes elsewhere and is bound there', async () => {
  servers = await startNodes(2);
  const stateDir = tmpDir();
  const t = await start(withAffinity(servers, stateDir));
  assert.equal(await answersFrom(t.port, '127.0.0.2', 3), ['n0', 'n0', 'n0']);
  t.balancer.setNodeState('c/n0', 'yellow');
  assert.equal(await answersFrom(t.port, '127.0.0.2', 3), ['n1', 'n1', 'n1']);
  assert.is(affinityStore(stateDir)?.get('c', '127.0.0.2'), 'n1');
  // Back to green, n0 takes new clients again, but this client stays where its session is.
  t.balancer.setNodeState('c/n0', 'green');
  assert.equal(await answersFrom(t.port, '127.0.0.2', 3), ['n1', 'n1', 'n1']);
  assert.is(await answerFrom(t.port, '127.0.0.3'), 'n0');
});

test('a bound node that refuses: the client falls over and is bound to the node that served', async () => {
  servers = await startNodes(2);
  const stateDir = tmpDir();
  const t = await start(withAffinity(servers, stateDir));
  assert.is(await answerFrom(t.port, '127.0.0.2'), 'n0');
  await closeServer(servers[0]!);
  assert.is(await answerFrom(t.port, '127.0.0.2'), 'n1');
  assert.is(affinityStore(stateDir)?.get('c', '127.0.0.2'), 'n1');
});

test('a reload shares the database; limits follow the config; the bound node removed: balanced afresh', async () => {
  servers = await startNodes(3);
  const stateDir = tmpDir();
  const config = withAffinity(servers, stateDir);
  const t = await start(config);
  assert.is(await answerFrom(t.port, '127.0.0.2'), 'n0');
  assert.is(await answerFrom(t.port, '127.0.0.3'), 'n1');
  const before = affinityStore(stateDir);
  await t.balancer.reload({ ...config, clusters: { c: { ...config.clusters.c!, affinity: { enabled: true, maxEntries: 5 } } } });
  assert.equal(openAffinityDatabases(), [path.join(stateDir, 'affinity.db')]);
  assert.is(affinityStore(stateDir), before); // the same open database, not a new one
  assert.is(await answerFrom(t.port, '127.0.0.2'), 'n0');
  assert.is(await answerFrom(t.port, '127.0.0.3'), 'n1');
  for (let i = 10; i < 20; i++) await answerFrom(t.port, `127.0.1.${i}`);
  assert.is(affinityStore(stateDir)?.get('c', '127.0.0.2'), undefined); // pushed out by the new bound of 5

  // n1 leaves the cluster: its client is balanced afresh (n1's id is no binding any more).
  const without = withAffinity([servers[0]!, servers[2]!], stateDir);
  without.clusters.c!.nodes = [{ id: 'n0', address: addr(servers[0]!) }, { id: 'n2', address: addr(servers[2]!) }];
  await t.balancer.reload(without);
  const served = await answerFrom(t.port, '127.0.0.3');
  assert.ok(served === 'n0' || served === 'n2', served);
  assert.equal(await answersFrom(t.port, '127.0.0.3', 3), Array(3).fill(served));
  await stop(t);
  assert.equal(openAffinityDatabases(), []);
});

test('clients reaching a dual-stack listener as IPv4-mapped IPv6 are keyed by their IPv4 address', async () => {
  servers = await startNodes(2);
  const stateDir = tmpDir();
  const config = withAffinity(servers, stateDir);
  config.listeners = [{ port: 0, host: '::', cluster: 'c' }];
  const t = await start(config);
  assert.equal(await answersFrom(t.port, '127.0.0.5', 3), ['n0', 'n0', 'n0']);
  await stop(t);
  assert.equal(storedBindings(stateDir), { '127.0.0.5': 'n0' });
});

test('a stateDir that cannot hold the database: an error is logged, bindings are kept in memory', async () => {
  servers = await startNodes(2);
  const stateDir = path.join(tmpDir({ 'not-a-folder': 'x' }), 'not-a-folder');
  const t = await start(withAffinity(servers, stateDir));
  assert.equal(await answersFrom(t.port, '127.0.0.2', 3), ['n0', 'n0', 'n0']);
  assert.equal(await answersFrom(t.port, '127.0.0.3', 3), ['n1', 'n1', 'n1']);
  const errors = t.logger.lines.filter((l) => l.level === 'error' && l.fields.plugin === 'affinity');
  assert.is(errors.length, 1);
  assert.match(errors[0]!.msg, /memory only/);
});

test('no cluster with affinity: no database is opened, nothing written to stateDir', async () => {
  servers = await startNodes(1);
  const stateDir = path.join(tmpDir(), 'state');
  const t = await start({ ...oneCluster(servers.map(addr)), stateDir });
  assert.is(await answerFrom(t.port), 'n0');
  assert.equal(openAffinityDatabases(), []);
  await stop(t);
  assert.is(existsSync(path.join(stateDir, 'affinity.db')), false);
});

test.run();
