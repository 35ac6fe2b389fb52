/**
 * Selection cost: how long one `Chooser.pick` takes for each built-in algorithm, run in
 * an isolate (`createSandboxRunner`, the default) and in this process
 * (`createInProcessRunner`), over plain NodeView candidates and varying clients.
 *
 * The algorithms are the ones plugins/balancers/index.ts registers at the time of the run
 * (read by applying the plugin to a recording API), whose module file exists; 'policy'
 * runs with policies/least-load.ts. Only the raw `pick` is timed: not the core's guard
 * around it (one scan of the candidates for the answer) nor anything of a connection.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInProcessRunner, createSandboxRunner, type AlgorithmRunner } from '../core/index.ts';
import type { AlgorithmDefinition, Chooser, ClientView, NodeView, Plugin } from '../core/types.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SANDBOX_LIMITS = { cpuTimeout: 50, memoryLimit: 32, baseDir: ROOT } as const;
const POLICY = fileURLToPath(new URL('../policies/least-load.ts', import.meta.url));

export interface AlgorithmEntry {
  name: string;
  /** Path of the algorithm module. */
  module: string;
  /** Path of the policy module, for algorithms registered with `{ argument: 'module' }`. */
  policy: string | undefined;
}

/** What plugins/balancers/index.ts registers now, with the module files that exist. */
export async function builtinAlgorithms(): Promise<{ found: AlgorithmEntry[]; missing: string[] }> {
  const plugin = (await import('../plugins/balancers/index.ts')).default as Plugin;
  const found: AlgorithmEntry[] = [];
  const missing: string[] = [];
  const api = {
    registerAlgorithm(name: string, module: string | URL, options?: { argument?: 'module' }) {
      const file = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : module;
      if (!existsSync(file)) return void missing.push(name);
      found.push({ name, module: file, policy: options?.argument === 'module' ? POLICY : undefined });
    },
  };
  // The plugin only calls registerAlgorithm; nothing else of the API is there.
  await (plugin.apply as (hooks: unknown, api: unknown) => unknown)({}, api);
  return { found, missing };
}

/** Plain candidates: load factors 1-3, assorted counters. */
export function candidates(count: number): NodeView[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `node-${i}`,
    loadFactor: 1 + (i % 3),
    activeConnections: (i * 7) % 5,
    totalConnections: 1000 + i * 37,
    connectionRate: 10 + ((i * 13) % 9),
    bytesRate: 50_000 + ((i * 7919) % 20_000),
    recentFailures: 0,
    connectLatency: 0.2 + (i % 4) * 0.05,
    state: 'green' as const,
    metrics: { load: (i * 0.37) % 1 },
  }));
}

/** 1024 distinct clients (IPv4 and IPv6, varying ports), used in turn. */
export const CLIENTS: ClientView[] = Array.from({ length: 1024 }, (_, i) => ({
  address: i % 4 === 3 ? `2001:db8::${((i * 40503) & 0xffff).toString(16)}` : `10.${(i >> 8) & 255}.${i & 255}.${(i * 31) & 255}`,
  port: 40_000 + ((i * 97) % 20_000),
  listener: 'bench',
}));

export interface PickTiming {
  picks: number;
  microsPerPick: number;
}

/** Time up to `maxPicks` picks (stopping after `budgetMs`), after a short warm-up. */
function timePicks(chooser: Chooser, nodes: readonly NodeView[], maxPicks: number, budgetMs: number): PickTiming {
  let sink = 0;
  const run = (limit: number, ms: number): PickTiming => {
    const started = performance.now();
    const deadline = started + ms;
    let picks = 0;
    while (picks < limit) {
      const end = Math.min(limit, picks + 256);
      for (; picks < end; picks++) {
        const id = chooser.pick(nodes, CLIENTS[picks & 1023]!);
        if (id === undefined) throw new Error('pick declined');
        sink += id.length;
      }
      if (performance.now() >= deadline) break;
    }
    return { picks, microsPerPick: ((performance.now() - started) * 1000) / picks };
  };
  run(Math.max(1_000, maxPicks / 20), budgetMs / 10); // JIT, first batches, isolate warm-up
  const timing = run(maxPicks, budgetMs);
  if (sink === 0) throw new Error('no picks');
  return timing;
}

export interface SelectionRow {
  algorithm: string;
  nodes: number;
  /** `batchable` as the module declares it (the sandbox then plans 64 picks per crossing). */
  batchable: boolean;
  inProcess: PickTiming;
  sandboxed: PickTiming;
}

const OPTIONS = { cluster: 'bench', hashSecret: 'bench-secret' };

async function timeWith(runner: AlgorithmRunner, a: AlgorithmEntry, nodes: NodeView[], maxPicks: number, budgetMs: number): Promise<PickTiming> {
  try {
    const chooser = await runner.create(a.module, { ...OPTIONS }, a.policy);
    return timePicks(chooser, nodes, maxPicks, budgetMs);
  } finally {
    runner.dispose();
  }
}

/** Selection cost of one algorithm over each candidate count, in-process and sandboxed. */
export async function selectionCost(a: AlgorithmEntry, nodeCounts: readonly number[], maxPicks: number, budgetMs: number): Promise<SelectionRow[]> {
  const def = (await import(pathToFileURL(a.module).href)) as { default?: AlgorithmDefinition };
  const rows: SelectionRow[] = [];
  for (const count of nodeCounts) {
    const nodes = candidates(count);
    const inProcess = await timeWith(createInProcessRunner(), a, nodes, maxPicks, budgetMs);
    const sandboxed = await timeWith(createSandboxRunner(SANDBOX_LIMITS), a, nodes, maxPicks, budgetMs);
    rows.push({ algorithm: a.name, nodes: count, batchable: def.default?.batchable === true, inProcess, sandboxed });
  }
  return rows;
}
