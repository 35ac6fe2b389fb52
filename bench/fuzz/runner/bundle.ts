/**
 * A fuzz target (TypeScript, ESM) bundled into one CommonJS file for Jazzer.js: its CLI
 * loads plain JavaScript, and a CommonJS bundle is instrumented by its require hook in
 * one piece (no ESM loader thread). Our sources are inlined, so they are instrumented
 * (coverage, comparisons); packages stay in node_modules, which Jazzer.js leaves alone.
 */
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** Bundles `entry` to `<outDir>/<name>.cjs` and returns that path. */
export async function bundleTarget(entry: string, outDir: string, name: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = path.join(outDir, `${name}.cjs`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
    // `import.meta.url` (createRequire, paths next to a module) as the bundle's own URL:
    // the bundle sits in the repository, so packages still resolve from its node_modules.
    define: { 'import.meta.url': '__pbImportMetaUrl' },
    banner: { js: 'var __pbImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  });
  return outfile;
}
