// The declarations of the package's public entries (tsc over tsconfig.build.json), for
// users' projects: scripts/build.mjs writes them to dist/types; a test may write them
// elsewhere (test/core/plugin-fields.test.ts type-checks a user's project against them).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/**
 * tsc keeps the sources' `.ts` import specifiers in .d.ts files, which a user's project
 * would reject (TS5097): they become `.js`, which every module resolution maps to the
 * .d.ts beside it. Side-effect imports too: the types entry imports the built-in plugins'
 * field declarations (`declare module 'protobalance'`) that way.
 */
export function buildTypes(outDir = path.join(root, 'dist', 'types'), { stdio = 'inherit' } = {}) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], { stdio });
  for (const file of walk(outDir)) {
    if (!file.endsWith('.d.ts')) continue;
    const text = readFileSync(file, 'utf8');
    const fixed = text.replace(/(from\s+|import\s*\(|import\s+)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
    if (fixed !== text) writeFileSync(file, fixed);
  }
  // A config reads process.env; Node's types come with the package (a dependency), so a
  // project whose tsconfig lists no types (`tsc --init`: "types": []) still knows them.
  const entry = path.join(outDir, 'core', 'index.d.ts');
  writeFileSync(entry, `/// <reference types="node" />\n${readFileSync(entry, 'utf8')}`);
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}
