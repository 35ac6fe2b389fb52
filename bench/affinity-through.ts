/**
 * The affinity bench's second half (bench/affinity-stores.ts): short connections through
 * balancers in this process (`createBalancer`, the built-in plugins, the in-process round
 * robin so that a pick skipped on a bound client saves next to nothing), one cluster of two
 * nodes on the request/response backend (a child process, bench/backends.ts), with client
 * affinity off, on SQLite (the default store, in a temp state dir) and on Redis.
 *
 * The clients come from many loopback addresses (127.1.0.1 and up; Linux routes all of
 * 127/8 to lo), so each variant sees the same mix of new clients (a quarter of the
 * connections) and returning ones, as a balancer with real clients does; from 127.0.0.1
 * alone every connection would find the one binding. Rounds alternate the variants;
 * every phase stops at its deadline or its connection count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { builtinPlugins } from '../app/builtins.ts';
import { createBalancer, createInProcessRunner, type Balancer, type Config } from '../core/index.ts';
import { startChild } from './children.ts';
import { newConnections, p99, type RateOptions } from './load.ts';

export const VARIANTS = ['off', 'sqlite', 'redis'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface ThroughPlan {
  rounds: number;
  roundMs: number;
  warmupMs: number;
  /** Most connections per variant and round. */
  maxOps: number;
  concurrency: number;
}

export interface ThroughResult {
  ops: number;
  seconds: number;
  perSecond: number;
  p99Ms: number;
  errors: number;
  /** This process's CPU (load generator + balancer) per connection, µs. */
  cpuMicros: number;
  /** redis-server's CPU per connection, µs (Redis variant only). */
  serverCpuMicros: number | undefined;
  /** Distinct client addresses used. */
  clients: number;
  rounds: number[];
}

/** One connection in this many comes from an address not seen before. */
const NEW_CLIENT_EVERY = 4;

/** Client addresses: a new one now and then, else one already used (the same sequence per variant). */
class Clients {
  private seed = 0x9e3779b9;
  used = 0;
  private rand(): number {
    // mulberry32
    let t = (this.seed = (this.seed + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  next(): string {
    const i = this.used === 0 || this.rand() < 1 / NEW_CLIENT_EVERY ? this.used++ : Math.floor(this.rand() * this.used);
    const n = i + 1;
    return `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
  }
}

interface Phase {
  ok: number;
  errors: number;
  seconds: number;
  latencies: Float64Array;
}

/** New connections from the next client address each (bench/load.ts's loop). */
async function connections(port: number, clients: Clients, o: Omit<RateOptions, 'localAddress'>): Promise<Phase> {
  const r = await newConnections(port, { ...o, localAddress: () => clients.next() });
  return { ok: r.ops, errors: r.errors, seconds: r.seconds, latencies: r.samples };
}

interface Running {
  variant: Variant;
  balancer: Balancer;
  port: number;
  stateDir: string;
  clients: Clients;
  phases: Phase[];
  cpuMicros: number;
  serverCpuMicros: number;
}

/**
 * Each variant's connection rate through its own balancer. `redis`: the server's URL and
 * CPU clock, or undefined to leave the Redis variant out.
 */
export async function throughBalancer(
  plan: ThroughPlan,
  redis: { url: string; cpuMicros: () => number } | undefined,
  log: (line: string) => void,
): Promise<Map<Variant, ThroughResult>> {
  const backends = await startChild('backends', new URL('./backends.ts', import.meta.url), []);
  const running: Running[] = [];
  try {
    const reqres = `127.0.0.1:${backends.ports.reqres}`;
    for (const variant of VARIANTS) {
      if (variant === 'redis' && !redis) continue;
      const stateDir = mkdtempSync(path.join(tmpdir(), `pb-bench-affinity-${variant}-`));
      const affinity = variant === 'off' ? {} : { affinity: { enabled: true, ...(variant === 'redis' ? { store: redis!.url } : {}) } };
      const config: Config = {
        listeners: [{ port: 0, host: '127.0.0.1', cluster: 'web', name: 'web' }],
        clusters: { web: { balance: 'round-robin', nodes: [{ id: 'a', address: reqres }, { id: 'b', address: reqres }], ...affinity } },
        log: { level: 'silent' },
        admin: false,
        stateDir,
      };
      const balancer = createBalancer(config, { builtins: builtinPlugins(), createRunner: () => createInProcessRunner() });
      running.push({ variant, balancer, stateDir, port: 0, clients: new Clients(), phases: [], cpuMicros: 0, serverCpuMicros: 0 });
      const [address] = await balancer.start();
      if (!address) throw new Error(`${variant}: the balancer listens nowhere`);
      running[running.length - 1]!.port = address.port;
    }
    // The Redis store connects in the background: let it, and each variant warm up.
    await new Promise((r) => setTimeout(r, 300));
    for (const r of running) {
      const warm = await connections(r.port, r.clients, { concurrency: plan.concurrency, durationMs: plan.warmupMs, maxOps: plan.maxOps });
      if (warm.ok === 0) throw new Error(`affinity ${r.variant}: no answer during the warm-up (${warm.errors} errors)`);
    }
    for (let round = 0; round < plan.rounds; round++) {
      // Rotate who goes first: drift on the shared machine spreads over the variants.
      const order = running.map((_, i) => running[(i + round) % running.length]!);
      for (const r of order) {
        const cpu0 = process.cpuUsage();
        const srv0 = r.variant === 'redis' ? redis!.cpuMicros() : 0;
        const phase = await connections(r.port, r.clients, { concurrency: plan.concurrency, durationMs: plan.roundMs, maxOps: plan.maxOps });
        const cpu = process.cpuUsage(cpu0);
        r.cpuMicros += cpu.user + cpu.system;
        if (r.variant === 'redis') r.serverCpuMicros += redis!.cpuMicros() - srv0;
        r.phases.push(phase);
        log(`  affinity through the balancer, ${r.variant}, round ${round + 1}: ${Math.round(phase.ok / phase.seconds)}/s, ${phase.ok} connections, ${phase.errors} errors`);
      }
    }
    const results = new Map<Variant, ThroughResult>();
    for (const r of running) {
      const ops = r.phases.reduce((a, p) => a + p.ok, 0);
      const seconds = r.phases.reduce((a, p) => a + p.seconds, 0);
      results.set(r.variant, {
        ops,
        seconds,
        perSecond: ops / seconds,
        p99Ms: p99(r.phases.flatMap((p) => Array.from(p.latencies))),
        errors: r.phases.reduce((a, p) => a + p.errors, 0),
        cpuMicros: r.cpuMicros / Math.max(1, ops),
        serverCpuMicros: r.variant === 'redis' ? r.serverCpuMicros / Math.max(1, ops) : undefined,
        clients: r.clients.used,
        rounds: r.phases.map((p) => p.ok / p.seconds),
      });
    }
    return results;
  } finally {
    for (const r of running) {
      await r.balancer.stop(1_000).catch(() => {});
      rmSync(r.stateDir, { recursive: true, force: true });
    }
    await backends.stop();
  }
}
