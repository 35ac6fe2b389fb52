/**
 * Sandboxed against in-process algorithms: the new-connections phase (bench/load.ts)
 * against two balancer processes that differ only in their algorithm runner, measured in
 * alternating rounds (sandboxed first in even rounds, in-process first in odd ones) so
 * that drift in the machine's load falls on both alike.
 */
import type { Child } from './children.ts';
import { newConnections, type RateResult } from './load.ts';

export interface CompareOptions {
  /** Listener name (the same in both processes). */
  service: string;
  concurrency: number;
  rounds: number;
  roundMs: number;
  warmupMs: number;
  maxOps: number;
}

export interface VariantResult {
  ops: number;
  seconds: number;
  perSecond: number;
  /** Mean of the rounds' p99 latencies. */
  p99Ms: number;
  errors: number;
  /** Balancer process CPU per connection, µs. */
  cpuPerOp: number;
  /** µs spent in `Chooser.pick` per pick in the balancer (started with `--time-picks`), if reported. */
  pickMicros: number | undefined;
  /** Connections per second of each round, in order. */
  rounds: number[];
}

export interface Comparison {
  sandboxed: VariantResult;
  inProcess: VariantResult;
}

function port(child: Child, service: string): number {
  const p = child.ports[service];
  if (p === undefined) throw new Error(`${child.name}: no ${service} port`);
  return p;
}

export async function compareRunners(sandboxed: Child, inProcess: Child, o: CompareOptions, log: (line: string) => void): Promise<Comparison> {
  for (const child of [sandboxed, inProcess]) {
    const warm = await newConnections(port(child, o.service), { concurrency: o.concurrency, durationMs: o.warmupMs, maxOps: o.maxOps });
    if (warm.ops === 0) throw new Error(`${child.name}: no answer during the warm-up (${warm.errors} errors)`);
  }
  const runs = new Map<Child, { r: RateResult; cpuMicros: number; pickMicros: number; picks: number }[]>([
    [sandboxed, []],
    [inProcess, []],
  ]);
  for (let round = 0; round < o.rounds; round++) {
    for (const child of round % 2 === 0 ? [sandboxed, inProcess] : [inProcess, sandboxed]) {
      const before = await child.stats();
      const r = await newConnections(port(child, o.service), { concurrency: o.concurrency, durationMs: o.roundMs, maxOps: o.maxOps });
      const after = await child.stats();
      const pickMicros = (after.pickMicros ?? 0) - (before.pickMicros ?? 0);
      const picks = (after.picks ?? 0) - (before.picks ?? 0);
      runs.get(child)!.push({ r, cpuMicros: after.cpuMicros - before.cpuMicros, pickMicros, picks });
      log(
        `  new connections ${child.name} (${o.service}), round ${round + 1}/${o.rounds}: ${Math.round(r.perSecond)}/s, ` +
          `p99 ${r.p99Ms.toFixed(2)} ms, ${r.errors} errors, CPU ${((after.cpuMicros - before.cpuMicros) / Math.max(1, r.ops)).toFixed(1)} µs/op` +
          (picks > 0 ? `, pick ${(pickMicros / picks).toFixed(1)} µs` : ''),
      );
    }
  }
  const sum = (child: Child): VariantResult => {
    const list = runs.get(child)!;
    const ops = list.reduce((s, x) => s + x.r.ops, 0);
    const seconds = list.reduce((s, x) => s + x.r.seconds, 0);
    const picks = list.reduce((s, x) => s + x.picks, 0);
    return {
      ops,
      seconds,
      perSecond: ops / seconds,
      p99Ms: list.reduce((s, x) => s + x.r.p99Ms, 0) / list.length,
      errors: list.reduce((s, x) => s + x.r.errors, 0),
      cpuPerOp: list.reduce((s, x) => s + x.cpuMicros, 0) / Math.max(1, ops),
      pickMicros: picks > 0 ? list.reduce((s, x) => s + x.pickMicros, 0) / picks : undefined,
      rounds: list.map((x) => x.r.perSecond),
    };
  };
  return { sandboxed: sum(sandboxed), inProcess: sum(inProcess) };
}
