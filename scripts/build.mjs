// `npm run build` (also run by `npm install` / `npm ci` through `prepare`): the prebuilt
// bundle bin/protobalance.js starts from, so that a start loads one file instead of
// transpiling a hundred (about 100 ms instead of about 500). dist/ is never committed.
// dist/inputs.json lists the sources it was built from; the bin falls back to the
// sources, through tsx, when any of them is newer than the bundle.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
const out = path.join(root, 'dist');
const started = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { cli: 'core/cli.ts', worker: 'core/workers/worker-main.ts', index: 'core/index.ts' },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native modules and tools with their own binaries stay packages.
  external: ['isolated-vm', 'better-sqlite3', 'esbuild', 'tsx', 'typescript'],
  define: { __PB_BUNDLED__: 'true' },
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "import { createRequire as __pbCreateRequire } from 'node:module'; const require = __pbCreateRequire(import.meta.url);" },
  plugins: [lazyBuiltins],
  metafile: true,
  logLevel: 'warning',
});
const sources = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node_modules/') && !p.includes(':'));
writeFileSync(path.join(out, 'inputs.json'), JSON.stringify({ builtAt: started, sources }, null, 1));
process.stderr.write(`dist/: ${sources.length} sources bundled in ${Date.now() - started} ms\n`);
