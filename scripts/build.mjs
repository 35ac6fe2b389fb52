// `npm run build` (also run by `npm install` / `npm ci` / `npm pack` through `prepare`):
// what the package ships and runs, in dist/ (never committed):
// - the bundle: cli, worker, the public entry (index) and `protobalance/builtins`, ESM with
//   source maps. A start loads a few files instead of transpiling a hundred (about 100 ms
//   instead of about 500). dist/inputs.json lists the sources it was built from; in a
//   checkout, the bin falls back to the sources, through tsx, when one is newer.
// - algorithms/: each built-in algorithm module, bundled alone, for the sandbox to load.
// - types/: the declarations of the public entries (tsc), for users' projects
//   (scripts/build-types.mjs); the `protobalance` types entry is app/types-entry.ts.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildTypes } from './build-types.mjs';
import { PLUGIN_API_FILES } from '../bin/resolve-source.js';

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
// The plugins use only its helpers (define*, lazyBuiltin, lazyNet), and importing the whole
// entry would evaluate all of it in every process: the admin server and dashboard, the
// process group, fleet sync. They get a module of just those helpers (a name it lacks
// fails the build, which is then the place to add it; bin/resolve-source.js does the same
// from the sources).
const selfEntries = {
  name: 'self-entries',
  setup(b) {
    const entries = { protobalance: 'core/index.ts', 'protobalance/builtins': 'app/builtins.ts' };
    b.onResolve({ filter: /^protobalance(\/builtins)?$/ }, (args) => {
      const fromPlugin = args.path === 'protobalance' && path.relative(root, args.importer).startsWith(`plugins${path.sep}`);
      return fromPlugin ? { path: 'plugin-api', namespace: 'pb-plugin-api' } : { path: path.join(root, entries[args.path]) };
    });
    b.onLoad({ filter: /.*/, namespace: 'pb-plugin-api' }, () => ({
      loader: 'js',
      resolveDir: root,
      contents: PLUGIN_API_FILES.map((f) => `export * from ${JSON.stringify(`./${f}`)};`).join('\n'),
    }));
  },
};
// Packages that only some starts use, kept out of the bundle and required from
// node_modules at first use, so that a start neither evaluates nor even parses them:
// - ioredis (affinity `store: 'redis://...'`, `fleet`): some 400 KB, and tls, dns, crypto
//   and the streams with it. Each name listed is a lazy stand-in for a class of the
//   package: `new`, statics and `instanceof` reach the real one.
// - semver's `satisfies`, for the plugins that declare a version range: a lazy function.
const LAZY_PACKAGES = { ioredis: { classes: ['Redis'] }, 'semver/functions/satisfies.js': { defaultFunction: true } };
// What cosmiconfig requires only for some config formats (YAML, JSON, its own .js
// loader), from cosmiconfig's own folder (they are its dependencies, not ours).
const COSMICONFIG_DEFERRED = ['js-yaml', 'parse-json', 'import-fresh'];
const lazyPackages = {
  name: 'lazy-packages',
  setup(b) {
    const names = Object.keys(LAZY_PACKAGES).map((n) => n.replace(/[./]/g, '\\$&')).join('|');
    b.onResolve({ filter: new RegExp(`^(${names})$`) }, (args) =>
      args.namespace === 'lazy-package' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-package' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-package' }, (args) => {
      const spec = LAZY_PACKAGES[args.path];
      const lines = [`let m; const load = () => (m ??= require(${JSON.stringify(args.path)}));`];
      if (spec.defaultFunction) lines.push('export default function (...argv) { return load()(...argv); }');
      if (spec.classes) {
        lines.push(
          'const lazyClass = (name) => new Proxy(function () {}, {',
          '  construct: (_, argv) => new (load()[name])(...argv),',
          '  apply: (_, self, argv) => Reflect.apply(load()[name], self, argv),',
          '  get: (_, key) => load()[name][key],',
          '  has: (_, key) => key in load()[name],',
          '});',
          ...spec.classes.map((n) => `export const ${n} = lazyClass(${JSON.stringify(n)});`),
        );
      }
      return { loader: 'js', contents: lines.join('\n') };
    });
    const deferred = new RegExp(`^(${COSMICONFIG_DEFERRED.join('|')})$`);
    b.onResolve({ filter: deferred }, (args) =>
      /node_modules\/cosmiconfig\//.test(args.importer) ? { path: args.path, namespace: 'cosmiconfig-deferred' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'cosmiconfig-deferred' }, (args) => ({
      loader: 'js',
      // cosmiconfig requires these where it uses them: this module runs only then.
      contents: `module.exports = require('node:module').createRequire(require.resolve('cosmiconfig'))(${JSON.stringify(args.path)});`,
    }));
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
  plugins: [lazyBuiltins, selfEntries, lazyPackages],
  metafile: true,
  logLevel: 'warning',
});
// Pure modules: `protobalance` stays an import, which the sandbox binds to its helpers.
const algorithms = await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(ALGORITHMS.map((name) => [name, `plugins/balancers/${name}.ts`])),
  outdir: path.join(out, 'algorithms'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  external: ['protobalance'],
  metafile: true,
  logLevel: 'warning',
});
buildTypes();
// Both builds' sources: an edited algorithm module makes the bundle stale too.
const inputs = new Set([...Object.keys(result.metafile.inputs), ...Object.keys(algorithms.metafile.inputs)]);
const sources = [...inputs].filter((p) => !p.startsWith('node_modules/') && !p.includes(':'));
writeFileSync(path.join(out, 'inputs.json'), JSON.stringify({ builtAt: started, sources }, null, 1));
process.stderr.write(`dist/: ${sources.length} sources bundled in ${Date.now() - started} ms\n`);
