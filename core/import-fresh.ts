/**
 * Importing a user's module (config, local plugin) afresh, so that an edit is seen on
 * reload. The module is bundled by esbuild with its relative imports (TypeScript or not),
 * so no TypeScript loader is needed at run time; packages stay external and resolve from
 * the module's own folder. `import ... from 'protobalance'` is bound to the running
 * Proto Balance itself, whichever way it was started (sources or prebuilt bundle), so a
 * config never loads a second copy. The bundle goes to a temporary file beside the
 * original (its `import.meta.url` and package resolution stay as written), is imported
 * and removed at once. Bundles are cached on disk while their files are unchanged.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin as EsbuildPlugin } from 'esbuild';
import { esbuild, ESBUILD_VERSION as esbuildVersion } from './esbuild-lazy.ts';
import { cachedBuild, digest } from './bundle-cache.ts';
import { recordInputs } from './esbuild-inputs.ts';
import * as define from './define.ts';
import { parseDuration } from './duration.ts';
import { ErrorCodes, isProtoBalanceError, ProtoBalanceError } from './errors.ts';
import { lazyBuiltin, lazyNet } from './lazy-builtin.ts';
import { VERSION } from './version.ts';

/** Temporary bundled modules are named so; file watchers must ignore them. */
export const TEMP_MODULE_PREFIX = '.protobalance-tmp-';

const RUNTIME_KEY = 'protobalance.runtime';
/**
 * What `protobalance` gives the modules loaded here. Most import only the helpers below
 * (a config its `defineConfig`), which every process has loaded anyway; the whole public
 * entry (admin server, process group, fleet sync) is imported only for a module that uses
 * more of it, so that a worker never loads the primary's parts for a config. The entry
 * re-exports these very functions: a module sees the same values either way. Imported when
 * first needed, not at the top: the entry imports this file (through config loading), and a
 * static import back would make an import cycle through the public entry.
 */
const HELPERS: Record<string, unknown> = { ...define, lazyBuiltin, lazyNet, parseDuration, ErrorCodes, ProtoBalanceError, isProtoBalanceError, VERSION };
let runtime: Record<string, unknown> | undefined;
async function publicEntry(): Promise<Record<string, unknown>> {
  if (!runtime) {
    runtime = (await import('./index.ts')) as Record<string, unknown>;
    (globalThis as Record<symbol, unknown>)[Symbol.for(RUNTIME_KEY)] = runtime;
  }
  return runtime;
}

/** Bind what `code` takes from `protobalance` (see runtimeModule) before it runs. */
async function bindRuntime(code: string): Promise<void> {
  if (runtime || !code.includes(RUNTIME_KEY)) return;
  const names = [...code.matchAll(/__pbApi\d*\("([\w$]+)"\)/g)].map((m) => m[1]!);
  // A bundle of an older form names no helpers: it gets the whole entry.
  if (names.length > 0 && names.every((n) => n in HELPERS)) {
    (globalThis as Record<symbol, unknown>)[Symbol.for(RUNTIME_KEY)] ??= HELPERS;
  } else {
    await publicEntry();
  }
}

let loads = 0;

export function isTypeScript(file: string): boolean {
  return /\.(c|m)?tsx?$/.test(file);
}

/**
 * `protobalance` as a bundled module sees it. Each name is a pure call, so esbuild keeps
 * only the names the module uses, and bindRuntime can tell from the code what it needs.
 */
function runtimeModule(runtime: Record<string, unknown>): string {
  const names = Object.keys(runtime).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
  return [
    `const __pbApi = (name) => globalThis[Symbol.for(${JSON.stringify(RUNTIME_KEY)})][name];`,
    ...names.map((n) => `export const ${n} = /* @__PURE__ */ __pbApi(${JSON.stringify(n)});`),
  ].join('\n');
}

const linkRuntime = (): EsbuildPlugin => ({
  name: 'protobalance-runtime',
  setup(b) {
    b.onResolve({ filter: /^protobalance$/ }, () => ({ path: 'protobalance', namespace: 'pb-runtime' }));
    // The names come from the whole entry: only a build (a cache miss) loads it.
    b.onLoad({ filter: /.*/, namespace: 'pb-runtime' }, async () => ({ contents: runtimeModule(await publicEntry()), loader: 'js' }));
    // Packages and Node built-ins are imported at run time, as the module wrote them.
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path === 'protobalance' ? undefined : { path: args.path, external: true }));
  },
});

/** esbuild's first error as `/abs/file.ts:line:col: text`. */
function located(err: unknown, cwd: string): Error {
  const first = (err as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors?.[0];
  if (!first) return err as Error;
  const where = first.location ? `${path.resolve(cwd, first.location.file)}:${first.location.line}:${first.location.column + 1}: ` : '';
  return new Error(`${where}${first.text}`, { cause: err });
}

// A CommonJS module bundled as ESM still calls require() for what it leaves external.
const REQUIRE_BANNER = "import { createRequire as __pbCreateRequire } from 'node:module'; const require = __pbCreateRequire(import.meta.url);";

async function bundleModule(file: string, commonJs: boolean) {
  const cwd = path.dirname(file);
  const { build } = await esbuild();
  const recorder = recordInputs();
  const result = await build({
    entryPoints: [file],
    absWorkingDir: cwd,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    ...(commonJs ? { banner: { js: REQUIRE_BANNER } } : {}),
    plugins: [linkRuntime(), recorder.plugin],
    logLevel: 'silent',
  }).catch((err: unknown) => {
    throw located(err, cwd);
  });
  const inputs = [...recorder.digests.keys()];
  return { code: result.outputFiles[0]!.text, inputs, digests: inputs.map((f) => recorder.digests.get(f)!) };
}

/** The module namespace of `file`, loaded fresh. */
export async function importFresh(file: string): Promise<Record<string, unknown>> {
  return (await importBound(file)).module;
}

/**
 * `file` loaded fresh, with `protobalance` bound to this running instance: a config, a
 * local plugin, or a plugin package's entry (`commonJs` for a CommonJS one). `digest`
 * names the code that ran, so a caller can tell a changed module from the same one.
 */
export async function importBound(file: string, options: { commonJs?: boolean } = {}): Promise<{ module: Record<string, unknown>; digest: string }> {
  const commonJs = options.commonJs === true;
  // `runtime 2`: bundles whose `protobalance` names are pure calls (runtimeModule).
  const { code } = await cachedBuild(`module\nruntime 2\n${esbuildVersion}\n${commonJs ? 'cjs\n' : ''}${file}`, () => bundleModule(file, commonJs));
  await bindRuntime(code);
  const temp = path.join(path.dirname(file), `${TEMP_MODULE_PREFIX}${process.pid}-${++loads}.mjs`);
  await writeFile(temp, code);
  try {
    return { module: (await import(pathToFileURL(temp).href)) as Record<string, unknown>, digest: digest(code) };
  } finally {
    await rm(temp, { force: true });
  }
}
