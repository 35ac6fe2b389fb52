/**
 * The sandbox runner: each algorithm instance (one per cluster) lives in its own
 * isolated-vm isolate, with a memory limit per isolate and a CPU-time limit per call.
 *
 * - The algorithm module (and a policy module, for algorithms that take one) is bundled by
 *   esbuild into one script; `protobalance` imports resolve to identity helpers, and Node
 *   built-ins cannot be resolved at all (platform "neutral"), so no I/O can get in.
 * - Inside, only JavaScript's own globals exist: no require, process, timers, network or
 *   host objects. Each call carries plain copies of the candidates and the client.
 * - Batchable algorithms (`batchable: true`) hand back 64 upcoming picks per crossing,
 *   used while the candidates (ids and load factors) stay the same.
 * - Errors are rethrown with the user's `file:line:column` (via the bundle's source map).
 *   An isolate killed by its memory limit is rebuilt, fresh, on the next call.
 */
import './native-guard.ts';
import path from 'node:path';
import type { Plugin as EsbuildPlugin } from 'esbuild';
import { esbuild, ESBUILD_VERSION as esbuildVersion } from './esbuild-lazy.ts';
import { cachedBuild } from './bundle-cache.ts';
import { recordInputs } from './esbuild-inputs.ts';
import { createRequire } from 'node:module';
import type ivm from 'isolated-vm';
import { toModulePath, type AlgorithmOptions, type AlgorithmRunner } from './algorithm-runner.ts';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import { originalPosition, parseSourceMap, type SourceMap } from './source-map.ts';
import type { Chooser, ClientView, NodeView } from './types.ts';

export interface SandboxLimits {
  /** CPU ms one call may take. */
  cpuTimeout: number;
  /** MiB of one isolate. */
  memoryLimit: number;
  /** Folder that relative source paths in error reports are relative to. */
  baseDir: string;
}

const BATCH = 64;
const SCRIPT_NAME = 'pb-sandbox.js';
const ENTRY_NAME = 'pb-entry.js';
// Required, not imported: an ES import of a CommonJS module makes Node parse it for its
// export names first, which costs start-up time.
const IsolatedVm = createRequire(import.meta.url)('isolated-vm') as typeof ivm;
const CPU_LIMIT_TEXT = 'exceeded its CPU time limit';

const SHIM = `const id = (x) => x;
export const defineAlgorithm = id, definePolicy = id, definePlugin = id, defineConfig = id;`;

const shimProtobalance: EsbuildPlugin = {
  name: 'protobalance-shim',
  setup(b) {
    b.onResolve({ filter: /^protobalance$/ }, () => ({ path: 'protobalance', namespace: 'pb-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'pb-shim' }, () => ({ contents: SHIM, loader: 'js' }));
  },
};

interface Bundle {
  code: string;
  map: SourceMap;
}

/** The bundle from the on-disk cache while the algorithm's and policy's files are unchanged. */
async function bundle(module: string, options: AlgorithmOptions, policy: string | undefined, baseDir: string): Promise<Bundle> {
  const key = `sandbox\n${esbuildVersion}\n${JSON.stringify([module, options, policy ?? null, baseDir])}`;
  const built = await cachedBuild(key, async () => {
    const b = await bundleNow(module, options, policy, baseDir);
    return { code: b.code, extra: b.mapText, inputs: b.inputs, digests: b.digests };
  });
  return { code: built.code, map: parseSourceMap(built.extra ?? '') };
}

async function bundleNow(
  module: string,
  options: AlgorithmOptions,
  policy: string | undefined,
  baseDir: string,
): Promise<{ code: string; mapText: string; inputs: string[]; digests: string[] }> {
  const entry = [
    `import algorithm from ${JSON.stringify(module)};`,
    policy === undefined ? 'const policy = undefined;' : `import policy from ${JSON.stringify(policy)};`,
    `if (!algorithm || typeof algorithm.create !== 'function') throw new Error('default export is not an algorithm { name, create(options) }');`,
    `if (${policy !== undefined} && (!policy || typeof policy.rate !== 'function')) throw new Error('default export of the policy is not { name, rate(node) }');`,
    `const chooser = algorithm.create(Object.assign(${JSON.stringify(options)}, policy ? { policy } : {}));`,
    `if (!chooser || typeof chooser.pick !== 'function') throw new Error('create() did not return a chooser { pick(nodes, client) }');`,
    `const none = { address: '', port: 0, listener: '' };`,
    `globalThis.__pbPick = (nodes, client) => chooser.pick(nodes, client);`,
    `globalThis.__pbPlan = (nodes, count) => { const out = []; for (let i = 0; i < count; i++) out.push(chooser.pick(nodes, none)); return out; };`,
    `globalThis.__pbRank = typeof chooser.rank === 'function' ? (nodes, client) => chooser.rank(nodes, client) : undefined;`,
    `globalThis.__pbBatchable = algorithm.batchable === true;`,
  ].join('\n');
  try {
    const { build } = await esbuild();
    const recorder = recordInputs();
    const result = await build({
      stdin: { contents: entry, resolveDir: baseDir, sourcefile: ENTRY_NAME, loader: 'js' },
      absWorkingDir: baseDir,
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      target: 'es2022',
      sourcemap: 'external',
      outfile: path.join(baseDir, SCRIPT_NAME),
      plugins: [shimProtobalance, recorder.plugin],
      logLevel: 'silent',
    });
    const js = result.outputFiles.find((f) => f.path.endsWith('.js'))!;
    const map = result.outputFiles.find((f) => f.path.endsWith('.map'))!;
    // The generated entry (stdin) and the shim are no files: the recorder sees only files.
    const inputs = [...recorder.digests.keys()];
    return { code: js.text, mapText: map.text, inputs, digests: inputs.map((f) => recorder.digests.get(f)!) };
  } catch (err) {
    const first = (err as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }).errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}: ` : '';
    throw pbError(ErrorCodes.ALGORITHM_LOAD, `${where}${first?.text ?? describeError(err)}`, { cause: err });
  }
}

/** The client as plain data (the core's view reads the address lazily, through getters). */
function plain(client: ClientView): ClientView {
  return { address: client.address, port: client.port, listener: client.listener };
}

/** Plain-data copies of the candidates: all an algorithm may see. */
function views(nodes: readonly NodeView[]): NodeView[] {
  const out = new Array<NodeView>(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    const peer = (n as { peer?: { active: number; connectionRate: number; bytesRate: number } }).peer;
    out[i] = {
      id: n.id,
      loadFactor: n.loadFactor,
      activeConnections: peer ? n.activeConnections + peer.active : n.activeConnections,
      totalConnections: n.totalConnections,
      connectionRate: peer ? n.connectionRate + peer.connectionRate : n.connectionRate,
      bytesRate: peer ? n.bytesRate + peer.bytesRate : n.bytesRate,
      recentFailures: n.recentFailures,
      connectLatency: n.connectLatency,
      state: n.state,
      metrics: n.metrics,
    };
  }
  return out;
}

type Ref = ivm.Reference<(...args: unknown[]) => unknown>;

/** One algorithm instance in its isolate. */
class IsolatedChooser implements Chooser {
  private isolate!: ivm.Isolate;
  private pickRef!: Ref;
  private planRef!: Ref;
  private rankRef: Ref | undefined;
  private batchable = false;
  /** Set when the isolate was killed (memory limit): the next call boots a new one. */
  private dead = false;
  private planned: string[] = [];
  private next = 0;
  private plannedIds: string[] = [];
  private plannedFactors: number[] = [];
  rank?: (nodes: readonly NodeView[], client: ClientView) => string[];

  constructor(
    private readonly bundle: Bundle,
    private readonly limits: SandboxLimits,
  ) {
    this.boot();
  }

  /** (Re)create the isolate and run the bundle in it: the algorithm starts afresh. */
  private boot(): void {
    if (!this.isolate?.isDisposed) this.isolate?.dispose();
    this.dead = false;
    this.isolate = new IsolatedVm.Isolate({ memoryLimit: this.limits.memoryLimit });
    const context = this.isolate.createContextSync();
    const script = this.isolate.compileScriptSync(this.bundle.code, { filename: SCRIPT_NAME });
    this.guard(() => script.runSync(context, { timeout: this.limits.cpuTimeout * 20 }));
    const global = context.global;
    this.pickRef = global.getSync('__pbPick', { reference: true }) as Ref;
    this.planRef = global.getSync('__pbPlan', { reference: true }) as Ref;
    const rank = global.getSync('__pbRank', { reference: true }) as Ref;
    this.rankRef = rank.typeof === 'function' ? rank : undefined;
    this.rank = this.rankRef ? (nodes, client) => this.call('rank', [views(nodes), plain(client)]) as string[] : undefined;
    this.batchable = global.getSync('__pbBatchable') === true;
    this.planned = [];
  }

  pick(nodes: readonly NodeView[], client: ClientView): string | undefined {
    if (!this.batchable) return this.call('pick', [views(nodes), plain(client)]) as string | undefined;
    if (this.next >= this.planned.length || !this.sameCandidates(nodes)) {
      this.planned = this.call('plan', [views(nodes), BATCH]) as string[];
      this.next = 0;
      this.plannedIds = nodes.map((n) => n.id);
      this.plannedFactors = nodes.map((n) => n.loadFactor);
    }
    return this.planned[this.next++];
  }

  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  private sameCandidates(nodes: readonly NodeView[]): boolean {
    if (nodes.length !== this.plannedIds.length) return false;
    for (let i = 0; i < nodes.length; i++) {
      if (nodes[i]!.id !== this.plannedIds[i] || nodes[i]!.loadFactor !== this.plannedFactors[i]) return false;
    }
    return true;
  }

  /** Call one of the isolate's entry points; the ref is taken after a reboot, never before. */
  private call(entry: 'pick' | 'plan' | 'rank', args: unknown[]): unknown {
    if (this.dead || this.isolate.isDisposed) this.boot();
    const ref = entry === 'pick' ? this.pickRef : entry === 'plan' ? this.planRef : this.rankRef!;
    const attempt = () =>
      ref.applySync(undefined, args, { arguments: { copy: true }, result: { copy: true }, timeout: this.limits.cpuTimeout });
    const cpuBefore = process.cpuUsage();
    try {
      return this.guard(attempt);
    } catch (err) {
      // isolated-vm's timeout is wall-clock time. On a machine short of CPU a call can run
      // out of it while barely running: that is no fault of the algorithm, so it gets one
      // more try. A call that really spent its CPU time fails at once. (The call runs on
      // this thread, which waits meanwhile, so the process's CPU time is the call's.)
      const spent = process.cpuUsage(cpuBefore);
      const spentMs = this.isolate.isDisposed ? Infinity : (spent.user + spent.system) / 1000;
      if ((err as Error).message.includes(CPU_LIMIT_TEXT) && spentMs < this.limits.cpuTimeout / 2) return this.guard(attempt);
      throw err;
    }
  }

  /** Run `fn`, turning the isolate's failures into errors that say where and why. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      const message = describeError(err);
      if (this.isolate.isDisposed || /disposed/i.test(message)) {
        this.dead = true;
        throw new Error(`ran out of memory (limit ${this.limits.memoryLimit} MiB); it restarts with fresh state`);
      }
      if (/timed out/i.test(message)) throw new Error(`${CPU_LIMIT_TEXT} of ${this.limits.cpuTimeout} ms`);
      throw new Error(`${this.locate(err)}${message}`);
    }
  }

  /** `file:line:column: ` of the innermost frame of the user's code, when known. */
  private locate(err: unknown): string {
    const stack = err instanceof Error ? (err.stack ?? '') : '';
    const re = new RegExp(`${SCRIPT_NAME.replace('.', '\\.')}:(\\d+):(\\d+)`, 'g');
    for (let m = re.exec(stack); m; m = re.exec(stack)) {
      const pos = originalPosition(this.bundle.map, Number(m[1]), Number(m[2]));
      if (pos && !pos.source.includes(ENTRY_NAME)) return `${pos.source}:${pos.line}:${pos.column}: `;
    }
    return '';
  }
}

/** Runs every algorithm in its own isolate, within `limits`. */
export function createSandboxRunner(limits: SandboxLimits): AlgorithmRunner {
  const live: IsolatedChooser[] = [];
  return {
    async create(module, options, policy) {
      const code = await bundle(toModulePath(module), options, policy, limits.baseDir);
      let chooser: IsolatedChooser;
      try {
        chooser = new IsolatedChooser(code, limits);
      } catch (err) {
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${toModulePath(policy ?? module)}: ${describeError(err)}`, { cause: err });
      }
      live.push(chooser);
      return chooser;
    },
    dispose() {
      for (const c of live.splice(0)) c.dispose();
    },
  };
}
