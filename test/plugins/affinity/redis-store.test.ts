import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Server } from 'node:net';
import { Redis } from 'ioredis';
import { createBalancer, validateConfig, type Config } from '../../../core/index.ts';
import { redisAffinityStore } from '../../../plugins/affinity/index.ts';
import { RedisAffinityStore, keyOf } from '../../../plugins/affinity/redis-store.ts';
import { builtinPlugins } from '../../helpers/assembly.ts';
import { recordingLogger } from '../../helpers/balancer.ts';
import { addr, answerFrom, closeServer, startServer, waitFor } from '../../helpers/net.ts';
import { HAVE_REDIS, RedisServer } from '../../helpers/redis-server.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const test = suite('affinity: Redis store');
const LIMITS = { ttl: 60_000, maxEntries: 1000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The real redis-server of this suite (started before, when installed), on a free port. */
let redis: RedisServer | undefined;
let port = 0;
const cleanups: (() => unknown)[] = [];

const startRedis = () => redis!.restart();
const killRedis = async () => void (await redis?.kill());

function store(): RedisAffinityStore {
  const s = new RedisAffinityStore({ url: `redis://127.0.0.1:${port}/0`, flushInterval: 10 });
  cleanups.push(() => s.close());
  s.configure('c', LIMITS);
  return s;
}

function direct(): Redis {
  const r = new Redis({ port, host: '127.0.0.1' });
  r.on('error', () => {});
  cleanups.push(() => r.disconnect());
  return r;
}

test.before(async () => {
  if (!HAVE_REDIS) return;
  redis = await RedisServer.start();
  port = redis.port;
});
test.after.each(async () => {
  for (const c of cleanups.splice(0)) await c();
  if (redis && !redis.running) await startRedis();
});
test.after(killRedis);

test('affinity.store must be a redis:// URL', () => {
  const config = (store: unknown) => ({
    listeners: [{ port: 0, cluster: 'c' }],
    clusters: { c: { nodes: [{ id: 'n0', address: '127.0.0.1:1' }], affinity: { enabled: true, store } } },
  });
  assert.is(validateConfig(config('redis://127.0.0.1:6379/0') as Config).clusters.c!.affinity.store, 'redis://127.0.0.1:6379/0');
  for (const bad of ['http://127.0.0.1:6379', 'redis://', 'redis://h:1/x', 42]) {
    assert.throws(() => validateConfig(config(bad) as Config), /affinity\.store.*redis:\/\//, String(bad));
  }
});

test('a binding written through twin A is read through twin B, with its TTL in Redis', async () => {
  assert.ok(HAVE_REDIS, 'redis-server is installed (.ci/run installs it with apt-get)');
  const a = store();
  const b = store();
  await waitFor(() => a.connected && b.connected, 5000, 'both twins connected');
  await sleep(50); // subscriptions
  a.set('c', '10.0.0.1', 'n1');
  // Pub/sub brings it to B's memory.
  await waitFor(() => b.get('c', '10.0.0.1') === 'n1', 2000, 'B hears the binding');
  const pttl = await direct().pttl(keyOf('c', '10.0.0.1'));
  assert.ok(pttl > 0 && pttl <= LIMITS.ttl, `PTTL ${pttl}`);
  // A binding B never heard of (a third store wrote it before B subscribed): read through.
  await direct().set(keyOf('c', '10.0.0.2'), 'n0', 'PX', 60_000);
  assert.is(b.get('c', '10.0.0.2'), undefined, 'a miss answers at once');
  await waitFor(() => b.get('c', '10.0.0.2') === 'n0', 2000, 'B fetched it in the background');
  // A moved binding and a forgotten one reach B.
  a.set('c', '10.0.0.1', 'n2');
  await waitFor(() => b.get('c', '10.0.0.1') === 'n2', 2000, 'B hears the move');
  a.delete('c', '10.0.0.1');
  await waitFor(() => b.get('c', '10.0.0.1') === undefined, 2000, 'B hears the delete');
  assert.is(await direct().exists(keyOf('c', '10.0.0.1')), 0);
});

test('a store started later loads the bindings already in Redis, newest kept within maxEntries', async () => {
  assert.ok(HAVE_REDIS, 'redis-server is installed (.ci/run installs it with apt-get)');
  const r = direct();
  for (let i = 0; i < 5; i++) await r.set(keyOf('w', `10.2.0.${i}`), `n${i}`, 'PX', 50_000 + i * 1000);
  const late = new RedisAffinityStore({ url: `redis://127.0.0.1:${port}/0` });
  cleanups.push(() => late.close());
  late.configure('w', { ttl: 60_000, maxEntries: 3 });
  await waitFor(() => late.get('w', '10.2.0.4') === 'n4', 3000, 'loaded without a miss');
  assert.is(late.get('w', '10.2.0.3'), 'n3');
  assert.is(late.get('w', '10.2.0.2'), 'n2');
  assert.is(late.get('w', '10.2.0.0'), undefined, 'the least recently seen are not kept');
});

test('Redis killed: lookups and writes never throw, memory answers; after a restart writes flow again', async () => {
  assert.ok(HAVE_REDIS, 'redis-server is installed (.ci/run installs it with apt-get)');
  const errors: string[] = [];
  let recovered = 0;
  const s = new RedisAffinityStore({
    url: `redis://127.0.0.1:${port}/0`,
    flushInterval: 10,
    onError: (_e, what) => errors.push(what),
    onRecover: () => recovered++,
  });
  cleanups.push(() => s.close());
  s.configure('c', LIMITS);
  await waitFor(() => s.connected, 5000, 'connected');
  s.set('c', '10.1.0.1', 'n0');
  await sleep(50);
  await killRedis();
  await waitFor(() => s.health().state === 'down', 5000, 'store reports down');
  for (let i = 0; i < 2000; i++) {
    const client = `10.1.${i % 50}.${i % 7}`;
    const bound = s.get('c', client);
    s.set('c', client, bound ?? `n${i % 3}`);
  }
  assert.is(s.get('c', '10.1.0.1') !== undefined, true);
  assert.is(errors.length, 1, `warned once: ${errors.join(', ')}`);
  assert.ok(s.health().pending > 0);
  await startRedis();
  await waitFor(() => recovered === 1 && s.health().state === 'up', 10_000, 'recovered');
  await waitFor(() => s.health().pending === 0, 5000, 'queued writes sent');
  const node = await direct().get(keyOf('c', '10.1.3.3'));
  assert.ok(node !== null, 'a binding made while Redis was down is in Redis now');
  s.set('c', '10.9.9.9', 'n1');
  await waitFor(() => s.health().pending === 0, 2000, 'written');
  assert.is(await direct().get(keyOf('c', '10.9.9.9')), 'n1');
});

test('two balancers on one Redis: a client bound through A lands on the same node through B, and Redis down refuses no one', async () => {
  assert.ok(HAVE_REDIS, 'redis-server is installed (.ci/run installs it with apt-get)');
  const nodes: Server[] = [];
  for (let i = 0; i < 3; i++) nodes.push(await startServer((socket) => socket.end(`n${i}`)));
  cleanups.push(async () => {
    for (const n of nodes) await closeServer(n);
  });
  const url = `redis://127.0.0.1:${port}/0`;
  const config = (stateDir: string): Config => ({
    stateDir,
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
    clusters: {
      c: {
        balance: 'round-robin',
        affinity: { enabled: true, ttl: '30d', store: url },
        nodes: nodes.map((n, i) => ({ id: `n${i}`, address: addr(n) })),
      },
    },
  });
  const start = async () => {
    const logger = recordingLogger();
    const stateDir = tmpDir();
    const balancer = createBalancer(config(stateDir), { logger, builtins: builtinPlugins() });
    const [first] = await balancer.start();
    cleanups.push(() => balancer.stop(200));
    return { port: first!.port, logger, store: () => redisAffinityStore(url, stateDir) };
  };
  const a = await start();
  const b = await start();
  assert.ok(a.store() && b.store() && a.store() !== b.store(), 'each balancer has its own Redis store (and memory)');
  await sleep(200); // both connected and subscribed
  const clients = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
  const onA: string[] = [];
  for (const c of clients) onA.push(await answerFrom(a.port, c));
  assert.ok(new Set(onA).size > 1, 'round robin spread the clients');
  await sleep(100); // writes batched, then published
  for (const [i, c] of clients.entries()) assert.is(await answerFrom(b.port, c), onA[i], `${c} through B`);
  // A twin started now knows them from its first connection on (loaded from Redis).
  const late = await start();
  await waitFor(() => late.store()?.get('c', clients[0]!) !== undefined, 3000, 'the late twin loaded the bindings');
  for (const [i, c] of clients.entries()) assert.is(await answerFrom(late.port, c), onA[i], `${c} through a late twin`);

  await killRedis();
  let failed = 0;
  for (let i = 0; i < 40; i++) {
    const c = clients[i % clients.length]!;
    const got = await answerFrom(i % 2 ? a.port : b.port, c).catch(() => (failed++, ''));
    if (got) assert.is(got, onA[i % clients.length], `${c} keeps its node while Redis is down`);
  }
  assert.is(failed, 0, 'no client refused');
  await waitFor(() => a.store()?.health().state === 'down', 5000, "A's store says Redis is down");
  await waitFor(() => a.logger.lines.some((l) => l.level === 'warn' && /affinity store/.test(l.msg)), 5000, 'A warned');
  await startRedis();
  await waitFor(() => a.logger.lines.some((l) => l.level === 'info' && /Redis reachable again/.test(l.msg)), 10_000, 'A logged recovery');
  const fresh = await answerFrom(a.port, '127.0.0.9');
  await sleep(100);
  assert.is(await answerFrom(b.port, '127.0.0.9'), fresh, 'a binding made after the restart reaches B');
});

test('a returning client is written again only once its TTL in Redis has run down by a twentieth', async () => {
  assert.ok(HAVE_REDIS, 'redis-server is installed (.ci/run installs it with apt-get)');
  let clock = Date.now();
  const s = new RedisAffinityStore({ url: `redis://127.0.0.1:${port}/0`, flushInterval: 5, now: () => clock });
  cleanups.push(() => s.close());
  s.configure('r', { ttl: 60_000, maxEntries: 100 });
  await waitFor(() => s.connected, 5000, 'connected');
  const r = direct();
  const sets = async () => Number(/cmdstat_set:calls=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? 0);
  const before = await sets();
  s.set('r', '10.3.0.1', 'n1');
  await sleep(50);
  assert.is(await sets(), before + 1, 'a new binding is written');
  for (let i = 0; i < 10; i++) {
    clock += 250;
    s.set('r', '10.3.0.1', 'n1');
  }
  await sleep(50);
  assert.is(await sets(), before + 1, 'refreshes within 3 s (ttl / 20) are not');
  assert.is(s.get('r', '10.3.0.1'), 'n1');
  clock += 1_000;
  s.set('r', '10.3.0.1', 'n1');
  await sleep(50);
  assert.is(await sets(), before + 2, 'past it, the binding is written again (its TTL starts over)');
  s.set('r', '10.3.0.1', 'n2');
  await sleep(50);
  assert.is(await sets(), before + 3, 'a move is always written');
  assert.is(await r.get(keyOf('r', '10.3.0.1')), 'n2');
});

test.run();
