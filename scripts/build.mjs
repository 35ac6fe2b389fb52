// `npm run build` (also run by `npm install` / `npm ci` / `npm pack` through `prepare`):
// what the package ships and runs, in dist/ (never committed):
// - the bundle: cli, worker, the public entry (index) and `protobalance/builtins`, ESM with
//   source maps. A start loads a few files instead of transpiling a hundred (about 100 ms
//   instead of about 500). dist/inputs.json lists the sources it was built from; in a
//   checkout, the bin falls back to the sources, through tsx, when one is newer.
// - algorithms/: each built-in algorithm module, bundled alone, for the sandbox to load.
// - types/: the declarations of the public entries (tsc), for users' projects.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { build } from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// Built-ins that dependencies require at load but use only on paths Proto Balance never
// takes (commander: child_process for executable subcommands; cosmiconfig: crypto for its
// own TypeScript loader). Without Node's start-up snapshot each built-in is compiled when
// loaded, child_process bringing net and the streams along: they become proxies that load
// the module at first use. Keyed by the requiring package.
const LAZY_BUILTINS = { commander: ['child_process'], cosmiconfig: ['crypto'] };

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(child_process|crypto)$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      const pkg = /node_modules\/([^/]+)\//.exec(args.importer)?.[1];
      if (!pkg || !LAZY_BUILTINS[pkg]?.includes(name)) return undefined;
      return { path: name, namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: `let m; const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Object.getOwnPropertyDescriptor(load(), key), configurable: true }),
});`,
    }));
  },
};
// `protobalance` in the built-in plugins is this package's own entry, in the same bundle.
const selfEntries = {
  name: 'self-entries',
  setup(b) {
    const entries = { protobalance: 'core/index.ts', 'protobalance/builtins': 'app/builtins.ts' };
    b.onResolve({ filter: /^protobalance(\/builtins)?$/ }, (args) => ({ path: path.join(root, entries[args.path]) }));
  },
};
/** The built-in algorithm modules (plugins/balancers/index.ts registers them by name). */
const ALGORITHMS = ['round-robin', 'random', 'client-hash', 'connection-rate', 'traffic-rate', 'min-load'];
const out = path.join(root, 'dist');
const started = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { cli: 'app/cli.ts', worker: 'app/worker.ts', index: 'core/index.ts', builtins: 'app/builtins.ts' },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native modules and tools with their own binaries stay packages.
  external: ['isolated-vm', 'better-sqlite3', 'esbuild', 'tsx', 'typescript'],
  define: { __PB_BUNDLED__: 'true', __PB_ALGORITHMS__: '"./algorithms/"' },
  sourcemap: true,
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "import { createRequire as __pbCreateRequire } from 'node:module'; const require = __pbCreateRequire(import.meta.url);" },
  plugins: [lazyBuiltins, selfEntries],
  metafile: true,
  logLevel: 'warning',
});
// Pure modules: `protobalance` stays an import, which the sandbox binds to its helpers.
await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(ALGORITHMS.map((name) => [name, `plugins/balancers/${name}.ts`])),
  outdir: path.join(out, 'algorithms'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  external: ['protobalance'],
  logLevel: 'warning',
});
buildTypes();
const sources = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node_modules/') && !p.includes(':'));
writeFileSync(path.join(out, 'inputs.json'), JSON.stringify({ builtAt: started, sources }, null, 1));
process.stderr.write(`dist/: ${sources.length} sources bundled in ${Date.now() - started} ms\n`);

/**
 * Declarations of the public entries. tsc keeps the sources' `.ts` import specifiers in
 * .d.ts files, which a user's project would reject (TS5097): they become `.js`, which
 * every module resolution maps to the .d.ts beside it.
 */
function buildTypes() {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  for (const file of walk(path.join(out, 'types'))) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    const fixed = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
    if (fixed !== text) writeFileSync(file, fixed);
  }
  // A config reads process.env; Node's types come with the package (a dependency), so a
  // project whose tsconfig lists no types (`tsc --init`: "types": []) still knows them.
  const entry = path.join(out, 'types', 'core', 'index.d.ts');
  writeFileSync(entry, `/// <reference types="node" />\n${readFileSync(entry, 'utf8')}`);
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}
