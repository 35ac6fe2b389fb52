/**
 * The sandbox runner: each algorithm instance (one per cluster) lives in its own
 * isolated-vm isolate, with a memory limit per isolate and a time limit per call.
 *
 * - The algorithm module (and a policy module, for algorithms that take one) is bundled by
 *   esbuild into one script; `protobalance` imports resolve to identity helpers, and Node
 *   built-ins cannot be resolved at all (platform "neutral"), so no I/O can get in.
 * - Inside, only JavaScript's own globals exist: no require, process, timers, network or
 *   host objects. Each call carries plain copies of the candidates and the client.
 * - Calls run off the event loop (core/sandbox-thread.ts); the guard waits for an answer
 *   at most a short deadline (core/guard.ts). Batchable algorithms (`batchable: true`)
 *   plan 64 picks per call (core/sandbox-chooser.ts).
 * - Failures carry their cause and the user's `file:line:column` (via the bundle's source
 *   map). An isolate killed by its memory limit is booted again, fresh, on the next call.
 */
import './native-guard.ts';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Plugin as EsbuildPlugin } from 'esbuild';
import { esbuild, ESBUILD_VERSION as esbuildVersion } from './esbuild-lazy.ts';
import { cachedBuild } from './bundle-cache.ts';
import { recordInputs } from './esbuild-inputs.ts';
import { toModulePath, type AlgorithmOptions, type AlgorithmRunner } from './algorithm-runner.ts';
import type { SharedCounters } from './shared-counters.ts';
import type { Chooser } from './types.ts';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import { SandboxChooser } from './sandbox-chooser.ts';
import { ENTRY_NAME, IsolateHost, SCRIPT_NAME } from './sandbox-thread.ts';
import { parseSourceMap, type SourceMap } from './source-map.ts';

export interface SandboxLimits {
  /** ms one call may run (cut off by isolated-vm; reported as CPU time or as waiting). */
  cpuTimeout: number;
  /** MiB of one isolate. */
  memoryLimit: number;
  /** Folder that relative source paths in error reports are relative to. */
  baseDir: string;
  /** Positions shared by the processes of a group, for cyclic algorithms (core/shared-counters.ts). */
  counters?: SharedCounters | undefined;
}

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
    // The prelude (core/sandbox-prelude.ts) ran first: it calls the chooser from now on.
    // A cyclic algorithm also hands over how to make a new instance: its first cycle is
    // the same in every process of a group, which then share one position in it.
    `__pbInstall(chooser, algorithm.batchable === true, algorithm.cyclic === true ? () => algorithm.create(Object.assign(${JSON.stringify(options)}, policy ? { policy } : {})) : undefined);`,
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

/** The user's file as messages name it: relative to the config's folder when inside it. */
function shown(file: string, baseDir: string): string {
  const rel = path.relative(baseDir, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

/** The bundle holds the code and the options: equal bundles, equal instances. */
const codeIdentity = (code: string): string => createHash('sha256').update(code).digest('hex');

/** Runs every algorithm in its own isolate, within `limits`. */
export function createSandboxRunner(limits: SandboxLimits): AlgorithmRunner {
  const live = new Map<Chooser, IsolateHost>();
  const identities = new WeakMap<Chooser, string>();
  return {
    async create(module, options, policy) {
      const code = await bundle(toModulePath(module), options, policy, limits.baseDir);
      const file = toModulePath(policy ?? module);
      const host = new IsolateHost({ ...code, cpuTimeout: limits.cpuTimeout, memoryLimit: limits.memoryLimit, file: shown(file, limits.baseDir) });
      try {
        await host.boot();
      } catch (err) {
        host.dispose();
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${file}: ${describeError(err)}`, { cause: err });
      }
      const position = host.cyclic ? limits.counters?.counter(`rotation\0${options.cluster}`) : undefined;
      const chooser = new SandboxChooser(host, limits.cpuTimeout, position);
      live.set(chooser, host);
      identities.set(chooser, codeIdentity(code.code));
      return chooser;
    },
    identityOf: (chooser) => identities.get(chooser),
    // The bundle holds the code and the options; unchanged files are a cache hit (no esbuild).
    async identify(module, options, policy) {
      return codeIdentity((await bundle(toModulePath(module), options, policy, limits.baseDir)).code);
    },
    release(chooser) {
      live.get(chooser)?.dispose();
      live.delete(chooser);
    },
    dispose() {
      for (const h of live.values()) h.dispose();
      live.clear();
    },
  };
}
