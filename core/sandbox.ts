/**
 * The sandbox runner: one isolated-vm isolate per algorithm module (+ policy file), with
 * a memory limit per isolate and a time limit per call, holding one instance per cluster
 * (core/sandbox-instance.ts). Measured at 500 round-robin clusters of 10 nodes: an isolate
 * and a bundle per cluster cost ≈ 1.4 MiB and ≈ 11 ms each; an instance in a shared
 * isolate ≈ 25 KiB (with its chooser and plans) and ≈ 1.4 ms.
 *
 * - The algorithm module (and a policy module, for algorithms that take one) is bundled by
 *   esbuild into one script; `protobalance` imports resolve to identity helpers, and Node
 *   built-ins cannot be resolved at all (platform "neutral"), so no I/O can get in.
 * - Inside, only JavaScript's own globals exist: no require, process, timers, network or
 *   host objects. Each call carries plain copies of the candidates and the client.
 * - Calls run off the event loop (core/sandbox-thread.ts); the guard waits for an answer
 *   at most a short deadline (core/guard.ts). Batchable algorithms (`batchable: true`)
 *   plan 256 picks per call (core/sandbox-chooser.ts).
 * - Failures carry their cause and the user's `file:line:column` (via the bundle's source
 *   map). An isolate killed by its memory limit is booted again, fresh, on the next call,
 *   with every instance on it made again: clusters sharing a module share that fate.
 * - The bundle holds the code only (the same for every cluster: one esbuild output, one
 *   cache entry); each instance's options are copied in when it is made. Module-level
 *   variables of an algorithm are therefore shared by its instances: state belongs in
 *   what `create` returns (the built-ins keep it there).
 */
import './native-guard.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Plugin as EsbuildPlugin } from 'esbuild';
import { esbuild, ESBUILD_VERSION as esbuildVersion } from './esbuild-lazy.ts';
import { cachedBuild, digest, stamp } from './bundle-cache.ts';
import { recordInputs } from './esbuild-inputs.ts';
import { toModulePath, type AlgorithmOptions, type AlgorithmRunner } from './algorithm-runner.ts';
import { localCounters, type SharedCounters } from './shared-counters.ts';
import { LEDGER, pickLedger } from './sandbox-table.ts';
import type { Chooser } from './types.ts';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import { SandboxChooser } from './sandbox-chooser.ts';
import type { SandboxInstance } from './sandbox-instance.ts';
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
  /** SHA-256 of the code: which isolate it runs in. */
  hash: string;
}

/** The bundle from the on-disk cache while the algorithm's and policy's files are unchanged. */
async function bundle(module: string, policy: string | undefined, baseDir: string): Promise<Bundle & { inputs: string[]; digests: string[] }> {
  const key = `sandbox\n${esbuildVersion}\n${JSON.stringify([module, policy ?? null, baseDir])}`;
  const built = await cachedBuild(key, async () => {
    const b = await bundleNow(module, policy, baseDir);
    return { code: b.code, extra: b.mapText, inputs: b.inputs, digests: b.digests };
  });
  return { code: built.code, map: parseSourceMap(built.extra ?? ''), hash: digest(built.code), inputs: built.inputs, digests: built.digests };
}

/**
 * Bundles kept in memory by this runner while their input files' stamps stay the same: a
 * config of 500 clusters of one algorithm asks for the same bundle 1,000 times (identify,
 * then create), and the on-disk cache would read and check its entry each time. Stamps are
 * kept only when the files still have the content bundled (else the next ask looks again).
 */
function bundleMemo(baseDir: string) {
  type Memo = { bundle: Promise<Bundle>; inputs?: string[]; stamps?: string[] };
  const memo = new Map<string, Memo>();
  return (module: string, policy: string | undefined): Promise<Bundle> => {
    const key = JSON.stringify([module, policy ?? null]);
    const hit = memo.get(key);
    if (hit && (!hit.inputs || hit.inputs.every((f, i) => stamp(f) === hit.stamps![i]))) return hit.bundle;
    const entry = {} as Memo;
    entry.bundle = bundle(module, policy, baseDir).then(
      (b) => {
        const stamps = b.inputs.map(stamp);
        const current = b.inputs.every((f, i) => contentDigest(f) === b.digests[i]);
        if (current && memo.get(key) === entry) Object.assign(entry, { inputs: b.inputs, stamps });
        else if (memo.get(key) === entry) memo.delete(key);
        return { code: b.code, map: b.map, hash: b.hash };
      },
      (err: unknown) => {
        if (memo.get(key) === entry) memo.delete(key);
        throw err;
      },
    );
    memo.set(key, entry);
    return entry.bundle;
  };
}

function contentDigest(file: string): string {
  try {
    return digest(readFileSync(file));
  } catch {
    return 'missing';
  }
}

async function bundleNow(
  module: string,
  policy: string | undefined,
  baseDir: string,
): Promise<{ code: string; mapText: string; inputs: string[]; digests: string[] }> {
  const entry = [
    `import algorithm from ${JSON.stringify(module)};`,
    policy === undefined ? 'const policy = undefined;' : `import policy from ${JSON.stringify(policy)};`,
    `if (!algorithm || typeof algorithm.create !== 'function') throw new Error('default export is not an algorithm { name, create(options) }');`,
    `if (${policy !== undefined} && (!policy || typeof policy.rate !== 'function')) throw new Error('default export of the policy is not { name, rate(node) }');`,
    // The prelude (core/sandbox-prelude.ts) ran first: it makes the instances from now on.
    `__pbDefine(algorithm, policy);`,
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

/** The same code and the same options: equal instances (one made earlier can serve on). */
const identity = (hash: string, options: AlgorithmOptions): string => digest(`${hash}\0${JSON.stringify(options)}`);

/** One isolate, and the instances that use it (or are being made in it). */
interface Shared {
  host: IsolateHost;
  key: string;
  booted: Promise<void>;
  users: number;
}

/** The sandbox runner; `isolates()` counts the isolates alive (for tests and the bench). */
export interface SandboxRunner extends AlgorithmRunner {
  isolates(): number;
}

/** Runs every algorithm module in an isolate of its own, shared by its instances, within `limits`. */
export function createSandboxRunner(limits: SandboxLimits): SandboxRunner {
  const bundled = bundleMemo(limits.baseDir);
  /** By code and file shown: a changed file makes a new isolate beside the old one's. */
  const hosts = new Map<string, Shared>();
  const live = new Map<Chooser, { shared: Shared; instance: SandboxInstance }>();
  const identities = new WeakMap<Chooser, string>();
  const letGo = (shared: Shared) => {
    if (--shared.users > 0) return;
    shared.host.dispose();
    if (hosts.get(shared.key) === shared) hosts.delete(shared.key);
  };
  return {
    async create(module, options, policy) {
      const code = await bundled(toModulePath(module), policy);
      const file = toModulePath(policy ?? module);
      const key = `${code.hash}\0${file}`;
      let shared = hosts.get(key);
      if (!shared) {
        const host = new IsolateHost({ code: code.code, map: code.map, cpuTimeout: limits.cpuTimeout, memoryLimit: limits.memoryLimit, file: shown(file, limits.baseDir) });
        const made: Shared = (shared = { host, key, booted: host.boot(), users: 0 });
        hosts.set(key, made);
        // A module that cannot load is tried again next time, in a new isolate.
        made.booted.catch(() => hosts.get(key) === made && hosts.delete(key));
      }
      shared.users++;
      let instance: SandboxInstance;
      try {
        await shared.booted;
        instance = await shared.host.add(options);
      } catch (err) {
        letGo(shared);
        throw pbError(ErrorCodes.ALGORITHM_LOAD, `${file}: ${describeError(err)}`, { cause: err });
      }
      const position = instance.cyclic ? limits.counters?.counter(`rotation\0${options.cluster}`) : undefined;
      if (instance.columns & LEDGER) instance.table.ledger = pickLedger(limits.counters ?? localCounters(), options.cluster);
      const chooser = new SandboxChooser(instance, limits.cpuTimeout, position);
      live.set(chooser, { shared, instance });
      identities.set(chooser, identity(code.hash, options));
      return chooser;
    },
    identityOf: (chooser) => identities.get(chooser),
    // Unchanged files are a memory (or cache) hit: no esbuild.
    async identify(module, options, policy) {
      return identity((await bundled(toModulePath(module), policy)).hash, options);
    },
    release(chooser) {
      const held = live.get(chooser);
      if (!held) return;
      live.delete(chooser);
      // The last one disposes the isolate whole: no call into an isolate about to go.
      if (held.shared.users > 1) held.shared.host.drop(held.instance);
      letGo(held.shared);
    },
    isolates: () => hosts.size,
    dispose() {
      for (const s of hosts.values()) s.host.dispose();
      hosts.clear();
      live.clear();
    },
  };
}
