/**
 * Runs algorithm modules. The core only sees `AlgorithmRunner`: where an algorithm's
 * code runs (sandboxed in an isolate by default, or in this process) is the runner's
 * business, and the forwarding path only ever calls `Chooser.pick`.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { AlgorithmBaseOptions, AlgorithmDefinition, Chooser, ClientView, NodeView, PolicyDefinition } from './types.ts';

export type AlgorithmOptions = AlgorithmBaseOptions & Record<string, unknown>;

/**
 * Why a call gave no usable answer, by its real cause: `cpu` (ran past its CPU time
 * limit), `deadline` (blocked waiting, as in `Atomics.wait`, past its time limit), `memory`
 * (its isolate hit the memory limit: disposed, and booted afresh), `throw`, `answer` (no
 * node id: wrong type, too long), `disposed` (replaced by a reload: no fault, not counted).
 */
export type FailureCause = 'cpu' | 'deadline' | 'memory' | 'throw' | 'answer' | 'disposed';

/** How one call ended: the id answered (a short string; the candidate is checked by the caller), or why not. */
export type CallResult =
  | { ok: true; id: string; /** Time the call ran, ms (whole ms). */ ms: number; /** `id`'s index among the candidates, when known. */ index?: number }
  | { ok: false; cause: FailureCause; /** At most 1 KiB, with the user's `file:line:column` when known. */ error: string };

/** A pick asked of a `DeferredChooser`: its result, when it came within the wait. */
export interface PickRequest {
  /** The result, when it arrived within the wait. */
  now?: CallResult;
  /** When it did not: the result of the call this request started, whenever it ends. */
  later?: Promise<CallResult>;
  /** With `later`: that result, if it is in by now (without waiting for the event loop). */
  poll?: () => CallResult | undefined;
  /** Neither: no call was started (the isolate is busy with an earlier call, or restarting). */
}

/**
 * A chooser whose calls run on another thread (the sandbox's): the caller blocks at most
 * the time it chooses, and learns how a late call ended from `later`.
 */
export interface DeferredChooser extends Chooser {
  /** Time limit of one call, ms (`sandbox.cpuTimeout`). */
  readonly callLimit: number;
  /** A pick among `nodes`, waiting at most `waitMs` (0: do not block at all). Never throws. */
  request(nodes: readonly NodeView[], client: ClientView, waitMs: number): PickRequest;
  /**
   * The node the choice went to, whoever made it (the answer, or the guard's stand-in when
   * it came late): `index` among `nodes` when known. Counted for the group (the rate
   * algorithms' ledger).
   */
  chosen?(nodes: readonly NodeView[], node: NodeView, index: number | undefined): void;
  /** What the guard answers with when this chooser's answer is late or failed, if it knows better than a rotation. */
  standIn?<N extends NodeView>(nodes: readonly N[]): N | undefined;
}

export function isDeferred(chooser: Chooser): chooser is DeferredChooser {
  return typeof (chooser as Partial<DeferredChooser>).request === 'function';
}

export interface AlgorithmRunner {
  /**
   * An instance of the algorithm in `module` (a path or file URL) for one cluster. With
   * `policy` (a path), that module's default export reaches `create` as `options.policy`.
   */
  create(module: string, options: AlgorithmOptions, policy?: string): Promise<Chooser>;
  /**
   * What `create` would make of these now, as text: equal texts, equal instances (the same
   * code and options), so one made earlier can serve on with its state. Optional: without
   * it, every generation makes its own instances.
   */
  identify?(module: string, options: AlgorithmOptions, policy?: string): Promise<string>;
  /** `identify`'s text for an instance `create` made (known without more work). */
  identityOf?(chooser: Chooser): string | undefined;
  /** Release one instance `create` made (its isolate); the others go on. */
  release?(chooser: Chooser): void;
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
  const made = new WeakMap<Chooser, string>();
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
      made.set(chooser, JSON.stringify([String(module), options, policy ?? null]));
      return chooser;
    },
    // Modules are imported once per process (Node's module cache): the arguments say it all.
    identify: async (module, options, policy) => JSON.stringify([String(module), options, policy ?? null]),
    identityOf: (chooser) => made.get(chooser),
    dispose() {},
  };
}
