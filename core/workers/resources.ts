/**
 * This process's memory and open file descriptors (Linux: /proc/self/fd), for the soak
 * and status. With `gc`, a full garbage collection runs first, so that figures taken at
 * different times compare what is live, not what the collector has yet to free.
 */
import { readdirSync } from 'node:fs';
import { lazyBuiltin } from '../lazy-builtin.ts';
import type { ProcessResources } from './protocol.ts';

const v8 = lazyBuiltin<typeof import('node:v8')>('node:v8');
const vm = lazyBuiltin<typeof import('node:vm')>('node:vm');

let collect: (() => void) | undefined;

function fullGc(): void {
  if (!collect) {
    // The documented way to reach V8's gc() without starting Node with --expose-gc
    // (node:v8 and node:vm loaded only then, not at every start).
    v8().setFlagsFromString('--expose-gc');
    collect = vm().runInNewContext('gc') as () => void;
  }
  collect();
}

export function processResources(gc = false): ProcessResources {
  if (gc) fullGc();
  let openFiles = -1;
  try {
    openFiles = readdirSync('/proc/self/fd').length;
  } catch {
    // Not Linux: unknown.
  }
  const mem = process.memoryUsage();
  return { pid: process.pid, rss: mem.rss, heapUsed: mem.heapUsed, openFiles };
}
