/**
 * Runs algorithm modules. The core only sees `AlgorithmRunner`: where an algorithm's
 * code runs (sandboxed in an isolate by default, or in this process) is the runner's
 * business, and the forwarding path only ever calls `Chooser.pick`.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { AlgorithmBaseOptions, AlgorithmDefinition, Chooser, PolicyDefinition } from './types.ts';

export type AlgorithmOptions = AlgorithmBaseOptions & Record<string, unknown>;

export interface AlgorithmRunner {
  /**
   * An instance of the algorithm in `module` (a path or file URL) for one cluster. With
   * `policy` (a path), that module's default export reaches `create` as `options.policy`.
   */
  create(module: string, options: AlgorithmOptions, policy?: string): Promise<Chooser>;
  /** Release what the runner holds (isolates, caches). */
  dispose(): void;
}

export function isDefinition(value: unknown): value is AlgorithmDefinition {
  const v = value as AlgorithmDefinition | undefined;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.create === 'function';
}

export function isPolicy(value: unknown): value is PolicyDefinition {
  const v = value as PolicyDefinition | undefined;
  return typeof v === 'object' && v !== null && typeof v.rate === 'function';
}

export function toModuleUrl(module: string): string {
  return /^[a-z]+:/i.test(module) ? module : pathToFileURL(module).href;
}

export function toModulePath(module: string): string {
  return module.startsWith('file:') ? fileURLToPath(module) : module;
}

async function importDefault(module: string): Promise<unknown> {
  try {
    return ((await import(toModuleUrl(module))) as { default?: unknown }).default;
  } catch (err) {
    throw pbError(ErrorCodes.ALGORITHM_LOAD, `cannot load ${toModulePath(module)}: ${describeError(err)}`, { cause: err });
  }
}

/**
 * Imports algorithm modules into this process: no isolation and no limits. For
 * comparison in the benchmark and for trusted setups; the default is the sandbox.
 */
export function createInProcessRunner(): AlgorithmRunner {
  return {
    async create(module, options, policy) {
      const def = await importDefault(module);
      if (!isDefinition(def)) {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${toModulePath(module)}: default export is not an algorithm { name, create(options) }`);
      }
      let policyDef: PolicyDefinition | undefined;
      if (policy !== undefined) {
        const p = await importDefault(policy);
        if (!isPolicy(p)) throw pbError(ErrorCodes.ALGORITHM_LOAD, `${policy}: default export is not a policy { name, rate(node) }`);
        policyDef = p;
      }
      const chooser = def.create(policyDef ? { ...options, policy: policyDef } : options);
      if (typeof chooser?.pick !== 'function') {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${toModulePath(module)}: create() did not return a chooser { pick(nodes, client) }`);
      }
      return chooser;
    },
    dispose() {},
  };
}
