/**
 * Runs algorithm modules. The core only sees `AlgorithmRunner`: where an algorithm's
 * code runs (in this process, or sandboxed) is the runner's business, and the
 * forwarding path only ever calls `Chooser.pick`.
 */
import { pathToFileURL } from 'node:url';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { AlgorithmBaseOptions, AlgorithmDefinition, Chooser } from './types.ts';

export type AlgorithmOptions = AlgorithmBaseOptions & Record<string, unknown>;

export interface AlgorithmRunner {
  /** An instance of the algorithm in `module` (a file path or URL) for one cluster. */
  create(module: string, options: AlgorithmOptions): Promise<Chooser>;
  /** Release what the runner holds (isolates, caches). */
  dispose(): void;
}

function isDefinition(value: unknown): value is AlgorithmDefinition {
  const v = value as AlgorithmDefinition | undefined;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.create === 'function';
}

export function toModuleUrl(module: string): string {
  return /^[a-z]+:/i.test(module) ? module : pathToFileURL(module).href;
}

/** Imports algorithm modules into this process. */
export function createInProcessRunner(): AlgorithmRunner {
  return {
    async create(module, options) {
      let def: unknown;
      try {
        def = ((await import(toModuleUrl(module))) as { default?: unknown }).default;
      } catch (err) {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `cannot load algorithm ${module}: ${describeError(err)}`, { cause: err });
      }
      if (!isDefinition(def)) {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${module}: default export is not an algorithm { name, create(options) }`);
      }
      const chooser = def.create(options);
      if (typeof chooser?.pick !== 'function') {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${module}: create() did not return a chooser { pick(nodes, client) }`);
      }
      return chooser;
    },
    dispose() {},
  };
}
