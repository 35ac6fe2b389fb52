/**
 * Importing a user's module afresh, so that an edited config or local plugin is seen on
 * reload. JavaScript is imported with a new query each time (the module cache is keyed
 * by URL). TypeScript is transpiled by esbuild (milliseconds, unlike the TypeScript
 * compiler) into a temporary module beside the original, so that its relative imports
 * resolve as written; the temporary file is removed at once.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { transform } from 'esbuild';

/** Temporary transpiled modules are named so; file watchers must ignore them. */
export const TEMP_MODULE_PREFIX = '.protobalance-tmp-';

let loads = 0;

export function isTypeScript(file: string): boolean {
  return /\.(c|m)?tsx?$/.test(file);
}

/** The module namespace of `file`, loaded fresh. */
export async function importFresh(file: string): Promise<Record<string, unknown>> {
  if (!isTypeScript(file)) {
    return (await import(`${pathToFileURL(file).href}?v=${++loads}`)) as Record<string, unknown>;
  }
  const source = await readFile(file, 'utf8');
  const { code } = await transform(source, {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcefile: file,
    sourcemap: 'inline',
  });
  const temp = path.join(path.dirname(file), `${TEMP_MODULE_PREFIX}${process.pid}-${++loads}.mjs`);
  await writeFile(temp, code);
  try {
    return (await import(pathToFileURL(temp).href)) as Record<string, unknown>;
  } finally {
    await rm(temp, { force: true });
  }
}
