/**
 * Node built-in modules loaded at first use. Without Node's start-up snapshot (which
 * isolated-vm needs off) every built-in module is compiled when first loaded, and `net`
 * alone brings some thirty with it; a start should load only what it uses.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyBuiltin<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}

export const lazyNet = lazyBuiltin<typeof import('node:net')>('node:net');

/** Milliseconds on a monotonic clock, without loading perf_hooks (as `performance` does). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
