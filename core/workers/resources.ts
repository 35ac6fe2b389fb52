/** This process's memory and open file descriptors (Linux: /proc/self/fd), for the soak and status. */
import { readdirSync } from 'node:fs';
import type { ProcessResources } from './protocol.ts';

export function processResources(): ProcessResources {
  let openFiles = -1;
  try {
    openFiles = readdirSync('/proc/self/fd').length;
  } catch {
    // Not Linux: unknown.
  }
  const mem = process.memoryUsage();
  return { pid: process.pid, rss: mem.rss, heapUsed: mem.heapUsed, openFiles };
}
