/**
 * Pick cost by cluster size: µs per pick of every built-in algorithm over 4, 100 and 5,000
 * candidates, three ways:
 *
 * - `guarded`: as the balancer runs it. The module in its isolate (createSandboxRunner with
 *   the default limits, as bench/selection.ts makes it), wrapped in the core's guard
 *   (`guardChooser`, the wrapper core/algorithms.ts puts around every cluster's chooser, with
 *   the in-process stand-in for algorithms registered with `inProcessFallback`), timed
 *   around `choose`. The guard waits at most 5 ms for the isolate; a later answer makes that
 *   choice (and the next ones, until an answer is in time) a weighted rotation: the share of
 *   such fallback choices is given beside the figure, since a fast figure made of fallbacks
 *   is not the algorithm's cost.
 * - `sandboxed`: the raw sandboxed `Chooser.pick`, which waits up to the 50 ms call limit
 *   (the algorithm's own cost with the copy of the candidates into the isolate).
 * - `in-process`: createInProcessRunner, the algorithm's code alone.
 *
 * The candidates are the same array on every pick (best case for batchable algorithms, whose
 * plan of picks is kept while the candidates' ids and factors stay the same). Every cell
 * stops after `budgetMs` or `maxPicks` (time checked between chunks that stay under ~2 ms),
 * or after 5 failed picks (each can cost the 50 ms call limit).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInProcessRunner, createSandboxRunner, type AlgorithmRunner } from '../core/index.ts';
import { guardChooser } from '../core/algorithms.ts';
import { silentLogger } from '../core/logger.ts';
import type { Chooser, NodeView, Plugin } from '../core/types.ts';
import { reason } from './scale-proc.ts';
import { CLIENTS, SANDBOX_LIMITS, candidates } from './selection.ts';

const POLICY = fileURLToPath(new URL('../policies/least-load.ts', import.meta.url));
export const PICK_WAYS = ['guarded', 'sandboxed', 'in-process'] as const;
export type PickWay = (typeof PICK_WAYS)[number];

interface Algorithm {
  name: string;
  module: string;
  policy: string | undefined;
  inProcessFallback: boolean;
}

/** What plugins/balancers/index.ts registers now, with its registration options. */
async function algorithms(): Promise<{ found: Algorithm[]; missing: string[] }> {
  const plugin = (await import('../plugins/balancers/index.ts')).default as Plugin;
  const found: Algorithm[] = [];
  const missing: string[] = [];
  const api = {
    registerAlgorithm(name: string, module: string | URL, options?: { argument?: 'module'; inProcessFallback?: boolean }) {
      const file = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : module;
      if (!existsSync(file)) return void missing.push(name);
      const policy = options?.argument === 'module' ? POLICY : undefined;
      found.push({ name: policy ? 'policy (least-load)' : name, module: file, policy, inProcessFallback: options?.inProcessFallback === true && !policy });
    },
  };
  await (plugin.apply as (hooks: unknown, api: unknown) => unknown)({}, api);
  return { found, missing };
}

export interface PickCell {
  /** µs per call, over every call timed (failed ones included). */
  micros: number;
  picks: number;
  errors: number;
  firstError: string | undefined;
  /** Failed picks during the warm-up (its first error, when the timed part had none, is `firstError`). */
  warmupErrors?: number;
  /** guarded: the share of choices the guard's fallback made. */
  fallbackShare?: number;
}

export type PickFigure = PickCell | { failed: string };

export interface PickRow {
  algorithm: string;
  way: PickWay;
  /** Per size, in the order given. */
  cells: PickFigure[];
}

/** Time `call(i)` for at most `budgetMs` / `maxCalls`, stopping after 5 errors. */
function timeCalls(call: (i: number) => void, budgetMs: number, maxCalls: number): PickCell {
  let calls = 0;
  let errors = 0;
  let firstError: string | undefined;
  let chunk = 1;
  const started = performance.now();
  const deadline = started + budgetMs;
  while (calls < maxCalls && errors < 5) {
    const c0 = performance.now();
    const end = Math.min(maxCalls, calls + chunk);
    for (; calls < end; calls++) {
      try {
        call(calls);
      } catch (err) {
        errors++;
        firstError ??= reason(err);
        if (errors >= 5) {
          calls++;
          break;
        }
      }
    }
    const now = performance.now();
    if (now >= deadline) break;
    if (now - c0 < 2 && chunk < 1024) chunk *= 2;
  }
  return { micros: ((performance.now() - started) * 1000) / Math.max(1, calls), picks: calls, errors, firstError };
}

const OPTIONS = { cluster: 'bench', hashSecret: 'bench-secret' };

async function cell(a: Algorithm, way: PickWay, nodes: NodeView[], budgetMs: number, maxPicks: number): Promise<PickCell> {
  const runner: AlgorithmRunner = way === 'in-process' ? createInProcessRunner() : createSandboxRunner(SANDBOX_LIMITS);
  const standIn = way === 'guarded' && a.inProcessFallback ? createInProcessRunner() : undefined;
  try {
    const raw: Chooser = await runner.create(a.module, { ...OPTIONS }, a.policy);
    let call: (i: number) => void;
    let health: (() => { fallbackChoices: number }) | undefined;
    if (way === 'guarded') {
      const fallback = standIn ? await standIn.create(a.module, { ...OPTIONS }) : undefined;
      const guarded = guardChooser(raw, silentLogger, 5, { fallback });
      call = (i) => void guarded.choose(nodes, CLIENTS[i & 1023]!);
      health = () => guarded.health;
    } else {
      call = (i) => {
        if (raw.pick(nodes, CLIENTS[i & 1023]!) === undefined) throw new Error('pick declined');
      };
    }
    const warm = timeCalls(call, budgetMs / 5, Math.max(1, Math.floor(maxPicks / 5))); // JIT, isolate warm-up, first plans
    const before = health?.().fallbackChoices ?? 0;
    const timed = timeCalls(call, budgetMs, maxPicks);
    timed.warmupErrors = warm.errors;
    timed.firstError ??= warm.firstError;
    if (health) timed.fallbackShare = (health().fallbackChoices - before) / Math.max(1, timed.picks);
    return timed;
  } finally {
    runner.dispose();
    standIn?.dispose();
  }
}

/** Every built-in algorithm, every way, every size; a failed cell is a figure, not the end. */
export async function pickCosts(sizes: readonly number[], budgetMs: number, maxPicks: number, log: (l: string) => void): Promise<{ rows: PickRow[]; missing: string[] }> {
  const { found, missing } = await algorithms();
  const rows: PickRow[] = [];
  const sets = sizes.map((n) => candidates(n));
  for (const a of found) {
    for (const way of PICK_WAYS) {
      const cells: PickFigure[] = [];
      for (const nodes of sets) {
        try {
          cells.push(await cell(a, way, nodes, budgetMs, maxPicks));
        } catch (err) {
          cells.push({ failed: reason(err) });
        }
      }
      rows.push({ algorithm: a.name, way, cells });
      log(`  pick ${a.name}, ${way}: ${cells.map((c, i) => `${sizes[i]} nodes ${'micros' in c ? `${c.micros.toFixed(2)} µs${c.errors ? ` (${c.errors} errors)` : ''}${c.fallbackShare ? ` (${(c.fallbackShare * 100).toFixed(0)}% fallback)` : ''}` : `failed: ${c.failed}`}`).join(', ')}`);
    }
  }
  return { rows, missing };
}
