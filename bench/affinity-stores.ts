/**
 * Client affinity's cost per connection with its Redis store against its SQLite store, in
 * one run, as a section of `npm run bench` (alone: `npm run bench -- --only=affinity`).
 *
 * 1. The stores alone. Per connection the affinity plugin calls `get(cluster, client)`
 *    (resolveAffinity) then `set(cluster, client, node)` (connected). Each store gets the
 *    same sequence of pairs in slices of 1,000: a quarter of the slices bring clients never
 *    seen before (misses), the rest clients already seen (hits, drawn at random). Between
 *    slices the event loop turns, so the stores' write-behind (SQLite's batch every 250 ms,
 *    Redis's pipeline every 50 ms, Redis replies and pub/sub) runs inside the measured
 *    window, and the window ends only once everything is written: SQLite flushed, Redis's
 *    queue empty and a PING answered on both of its connections (after the pipeline's replies
 *    and its own published messages). The reference is a plain Map, measured the same way.
 * 2. Through a balancer (bench/affinity-through.ts): short connections, affinity off, on
 *    SQLite, on Redis.
 *
 * redis-server is started here (bench/redis-server.ts); without it the Redis cells say so.
 * Figures are ratios to references of the same run, never assertions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisAffinityStore } from '../plugins/affinity/redis-store.ts';
import { SqliteAffinityStore } from '../plugins/affinity/sqlite-store.ts';
import type { AffinityLimits } from '../plugins/affinity/store.ts';
import { throughBalancer, type ThroughPlan, type ThroughResult, type Variant } from './affinity-through.ts';
import { affinityTables, type StoreRun } from './affinity-report.ts';
import { findRedisServer, startRedisServer, type RedisServer } from './redis-server.ts';

export { AFFINITY_HEADING } from './affinity-report.ts';

const PLAN = {
  quick: { pairs: 50_000, distinct: 12_500, rounds: 1, budgetMs: 2_000, warmPairs: 10_000, through: { rounds: 1, roundMs: 1_000, warmupMs: 300, maxOps: 20_000, concurrency: 32 } },
  default: { pairs: 200_000, distinct: 50_000, rounds: 3, budgetMs: 5_000, warmPairs: 20_000, through: { rounds: 5, roundMs: 1_000, warmupMs: 500, maxOps: 30_000, concurrency: 32 } },
} satisfies Record<string, { pairs: number; distinct: number; rounds: number; budgetMs: number; warmPairs: number; through: ThroughPlan }>;
/** Worst case of the section (bench/run.ts's watchdog adds it). */
export const AFFINITY_WATCHDOG_MS = 120_000;

const SLICE = 1_000;
const CLUSTER = 'web';
const NODES = ['a', 'b', 'c', 'd'] as const;
const LIMITS: AffinityLimits = { ttl: 30 * 86_400_000, maxEntries: 100_000 };
export const STORES = ['map', 'sqlite', 'redis'] as const;
export type StoreName = (typeof STORES)[number];

/** Client addresses (7 in 8 IPv4, the rest IPv6, as address.ts normalizes them) and the pairs' order. */
interface Workload {
  clients: string[];
  /** Client index per pair. */
  seq: Int32Array;
  /** Per slice: 1 when it brings new clients. */
  fresh: Uint8Array;
}

function workload(pairs: number, distinct: number, seed: number): Workload {
  const clients = Array.from({ length: distinct }, (_, i) =>
    i % 8 === 7 ? `2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  );
  let s = seed;
  const rand = () => {
    let t = (s = (s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const slices = Math.ceil(pairs / SLICE);
  const every = Math.max(1, Math.floor(slices / Math.ceil(distinct / SLICE)));
  const seq = new Int32Array(slices * SLICE);
  const fresh = new Uint8Array(slices);
  let seen = 0;
  for (let sl = 0; sl < slices; sl++) {
    fresh[sl] = seen === 0 || (sl % every === 0 && seen < distinct) ? 1 : 0;
    for (let k = 0; k < SLICE; k++) seq[sl * SLICE + k] = fresh[sl] && seen < distinct ? seen++ : Math.floor(rand() * seen);
  }
  return { clients, seq: seq.subarray(0, pairs), fresh };
}

interface Subject {
  get(cluster: string, client: string): string | undefined;
  set(cluster: string, client: string, node: string): void;
  configure(cluster: string, limits: AffinityLimits): void;
  /** Resolves once every write made so far is where the store keeps it. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

function mapSubject(): Subject {
  const maps = new Map<string, Map<string, string>>();
  return {
    get: (cluster, client) => maps.get(cluster)?.get(client),
    set: (cluster, client, node) => void maps.get(cluster)?.set(client, node),
    configure: (cluster) => void maps.set(cluster, new Map()),
    drain: async () => {},
    close: async () => {},
  };
}

function sqliteSubject(): Subject {
  const dir = mkdtempSync(path.join(tmpdir(), 'pb-bench-affinity-'));
  const store = new SqliteAffinityStore({ file: path.join(dir, 'affinity.db'), onError: (err, what) => process.stderr.write(`  sqlite store: ${what}: ${String(err)}\n`) });
  return {
    get: (c, k) => store.get(c, k),
    set: (c, k, n) => store.set(c, k, n),
    configure: (c, l) => store.configure(c, l),
    drain: async () => {
      store.flush();
      if (store.pendingWrites !== 0) throw new Error(`sqlite store: ${store.pendingWrites} writes still queued after flush`);
    },
    close: async () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The store's two connections (private fields; the bench only PINGs them to know the replies are in). */
interface RedisInside {
  redis?: { ping(): Promise<unknown> };
  sub?: { ping(): Promise<unknown> };
}

async function redisSubject(url: string): Promise<Subject> {
  const store = new RedisAffinityStore({ url, onError: (err, what) => process.stderr.write(`  redis store: ${what}: ${String(err)}\n`) });
  const inside = store as unknown as RedisInside;
  if (typeof inside.redis?.ping !== 'function' || typeof inside.sub?.ping !== 'function') {
    store.close();
    throw new Error('RedisAffinityStore no longer has its `redis` and `sub` connections: update bench/affinity-stores.ts drain()');
  }
  for (const until = performance.now() + 5_000; !store.connected; await sleep(5)) {
    if (performance.now() > until) throw new Error(`redis store: not connected after 5 s (${JSON.stringify(store.health())})`);
  }
  return {
    get: (c, k) => store.get(c, k),
    set: (c, k, n) => store.set(c, k, n),
    configure: (c, l) => store.configure(c, l),
    drain: async () => {
      for (const until = performance.now() + 10_000; store.health().pending > 0; await sleep(1)) {
        if (performance.now() > until) throw new Error(`redis store: ${store.health().pending} writes still queued after 10 s`);
      }
      // Replies come in order per connection: these answer after the last pipeline's.
      await inside.redis!.ping();
      await inside.sub!.ping();
    },
    close: async () => {
      store.close();
      await sleep(20);
    },
  };
}

/** One store, one pass over the workload: warm-up on another cluster, then the timed slices. */
async function runOnce(subject: Subject, w: Workload, warm: Workload, budgetMs: number, serverCpu: (() => number) | undefined): Promise<StoreRun> {
  subject.configure('warm', LIMITS);
  subject.configure(CLUSTER, LIMITS);
  for (let i = 0; i < warm.seq.length; i++) {
    const client = warm.clients[warm.seq[i]!]!;
    subject.set('warm', client, subject.get('warm', client) ?? NODES[i & 3]!);
    if (i % SLICE === SLICE - 1) await turn();
  }
  await subject.drain();
  await sleep(100); // Redis's background SCAN of the new cluster, a GC
  let misses = 0;
  let pairs = 0;
  let freshMicros = 0;
  let freshPairs = 0;
  let seenMicros = 0;
  let longestPause = 0;
  const cpu0 = process.cpuUsage();
  const srv0 = serverCpu?.() ?? 0;
  const t0 = performance.now();
  let lastEnd = t0;
  for (let sl = 0; sl * SLICE < w.seq.length && performance.now() - t0 < budgetMs; sl++) {
    const a = performance.now();
    longestPause = Math.max(longestPause, a - lastEnd);
    const end = Math.min(w.seq.length, (sl + 1) * SLICE);
    for (let i = sl * SLICE; i < end; i++) {
      const client = w.clients[w.seq[i]!]!;
      const bound = subject.get(CLUSTER, client);
      if (bound === undefined) misses++;
      subject.set(CLUSTER, client, bound ?? NODES[i & 3]!);
    }
    const b = performance.now();
    if (w.fresh[sl]) {
      freshMicros += (b - a) * 1000;
      freshPairs += end - sl * SLICE;
    } else seenMicros += (b - a) * 1000;
    pairs = end;
    lastEnd = b;
    await turn();
  }
  const lastCall = performance.now();
  await subject.drain();
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const srv = serverCpu ? serverCpu() - srv0 : undefined;
  return {
    pairs,
    misses,
    callMicros: (freshMicros + seenMicros) / pairs,
    freshMicros: freshMicros / Math.max(1, freshPairs),
    seenMicros: seenMicros / Math.max(1, pairs - freshPairs),
    windowMicros: ((t1 - t0) * 1000) / pairs,
    cpuMicros: (cpu.user + cpu.system) / pairs,
    serverCpuMicros: srv === undefined ? undefined : srv / pairs,
    longestPauseMs: longestPause,
    drainMs: t1 - lastCall,
  };
}

export interface AffinitySection {
  section: string;
  warnings: string[];
  seconds: number;
}

/** Both halves, and the markdown section (its own heading, date and notes). */
export async function affinitySection(o: { quick: boolean; log: (line: string) => void }): Promise<AffinitySection> {
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  const plan = PLAN[o.quick ? 'quick' : 'default'];
  const warnings: string[] = [];
  const found = findRedisServer();
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  const runs = new Map<StoreName, StoreRun[]>(STORES.map((s) => [s, []]));
  let through: Map<Variant, ThroughResult> | undefined;
  let redisKeys: number | undefined;
  o.log(`affinity stores: ${found ? `redis-server ${found.version}` : 'redis-server not installed: the Redis store is skipped'}`);
  try {
    if (found) {
      try {
        server = await startRedisServer(found.file, found.version);
        admin = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        await admin.connect();
      } catch (err) {
        // The Redis cells stay empty; the warning says why (and keeps RESULTS.md as it was).
        const message = err instanceof Error ? err.message : String(err);
        o.log(`  redis-server: FAILED: ${message}`);
        warnings.push(`warning: starting redis-server failed: ${message}`);
        admin?.disconnect();
        admin = undefined;
        await server?.stop();
        server = undefined;
      }
    }
    const w = workload(plan.pairs, plan.distinct, 0x5eed);
    const warm = workload(plan.warmPairs, Math.ceil(plan.warmPairs / 4), 0xa11);
    for (let round = 0; round < plan.rounds; round++) {
      const order = STORES.map((_, i) => STORES[(i + round) % STORES.length]!);
      for (const name of order) {
        if (name === 'redis' && !server) continue;
        try {
          if (name === 'redis') await admin!.flushdb();
          const subject = name === 'map' ? mapSubject() : name === 'sqlite' ? sqliteSubject() : await redisSubject(server!.url);
          let run: StoreRun;
          try {
            run = await runOnce(subject, w, warm, plan.budgetMs, name === 'redis' ? server!.cpuMicros : undefined);
          } finally {
            await subject.close();
          }
          if (name === 'redis') {
            // Evidence the window held the writes: one key per client, warm-up's and the run's.
            const keys = await admin!.dbsize();
            const expected = run.misses + Math.ceil(plan.warmPairs / 4);
            if (keys < expected) warnings.push(`warning: Redis holds ${keys} keys after the drain, expected ${expected}`);
          }
          runs.get(name)!.push(run);
          o.log(
            `  affinity store ${name}, round ${round + 1}: calls ${run.callMicros.toFixed(3)} µs/conn (new ${run.freshMicros.toFixed(3)}, returning ${run.seenMicros.toFixed(3)}), ` +
              `window ${run.windowMicros.toFixed(3)} µs/conn, CPU ${run.cpuMicros.toFixed(3)} µs/conn${run.serverCpuMicros === undefined ? '' : ` + redis-server ${run.serverCpuMicros.toFixed(3)}`}, ` +
              `${run.pairs} pairs, ${run.misses} misses, longest pause ${run.longestPauseMs.toFixed(1)} ms, drain ${run.drainMs.toFixed(1)} ms`,
          );
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          o.log(`  affinity store ${name}: FAILED: ${message}`);
          warnings.push(`warning: affinity store ${name} failed: ${message}`);
        }
      }
    }
    try {
      if (admin) await admin.flushdb();
      through = await throughBalancer(plan.through, server ? { url: server.url, cpuMicros: server.cpuMicros } : undefined, o.log);
      if (admin) redisKeys = (await admin.keys('pb:aff:web:*')).length;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      o.log(`  affinity through the balancer: FAILED: ${message}`);
      warnings.push(`warning: affinity through the balancer failed: ${message}`);
    }
  } finally {
    admin?.disconnect();
    await server?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const section = affinityTables({ quick: o.quick, plan, slice: SLICE, runs, through, redis: server ? `redis-server ${server.version}` : undefined, redisKeys, seconds, loadBefore, warnings });
  return { section, warnings, seconds };
}
