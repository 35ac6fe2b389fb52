/**
 * Algorithm instances outlive the generation that made them: a reload or runtime change
 * that leaves a cluster's algorithm as it was (same code, same options, same limits) hands
 * the next generation the same instance, with its state: a round robin goes on where it
 * was, an isolate is not booted again. Each instance counts the generations holding it,
 * and its isolate is released when the last one shuts down.
 */
import type { AlgorithmRunner } from './algorithm-runner.ts';
import type { NodeChooser } from './algorithms.ts';
import type { Chooser } from './types.ts';

export interface AlgorithmInstance {
  /** What it was made of (AlgorithmRegistry.identify, with the limits); undefined: never shared. */
  readonly key: string | undefined;
  /** The guarded chooser the cluster calls. */
  readonly chooser: NodeChooser;
  /** The runner's own chooser, for `release`. */
  readonly raw: Chooser;
  readonly runner: AlgorithmRunner;
  /** Generations holding it. */
  holders: number;
}

/** The instance of the generation before, when it can serve on unchanged. */
export function carriedOver(previous: AlgorithmInstance | undefined, key: string | undefined, runner: AlgorithmRunner): AlgorithmInstance | undefined {
  if (!previous || key === undefined || previous.key !== key || previous.runner !== runner) return undefined;
  previous.holders++;
  return previous;
}

/** A generation lets go of its instances; those no generation holds any more are released. */
export function releaseInstances(instances: Iterable<AlgorithmInstance>): void {
  for (const i of instances) {
    if (--i.holders === 0) i.runner.release?.(i.raw);
  }
}
