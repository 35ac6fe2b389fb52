/**
 * esbuild, loaded on first use: a start whose bundles all come from the cache
 * (core/bundle-cache.ts) neither loads its JavaScript nor starts its helper process.
 */
import { createRequire } from 'node:module';

type Esbuild = typeof import('esbuild');

const require = createRequire(import.meta.url);
let loaded: Esbuild | undefined;

export const ESBUILD_VERSION: string = (require('esbuild/package.json') as { version: string }).version;

export async function esbuild(): Promise<Esbuild> {
  loaded ??= (await import('esbuild')) as Esbuild;
  return loaded;
}

/** Stop esbuild's helper process, if it was ever started; it restarts on demand. */
export function stopEsbuild(): void {
  if (loaded) void loaded.stop();
}
