/**
 * What a process of this package is put together from: the built-in plugins, the affinity
 * lookup the admin API serves, and the worker program that loads the same built-ins.
 * Public as `protobalance/builtins`, for programs that build a balancer themselves:
 * `createBalancer(config, { builtins: builtinPlugins() })`.
 */
import { fileURLToPath } from 'node:url';
import { BUNDLED } from '../core/paths.ts';
import type { AffinityLookup } from '../core/admin/server.ts';
import type { PluginEntry } from '../core/types.ts';
import { affinityLookup as lookup, builtinPlugins } from '../plugins/builtin.ts';

export { builtinPlugins };
export const affinityLookup: AffinityLookup = lookup;

/** The worker program of a process group; it loads the built-ins itself. */
export const workerEntry: string = fileURLToPath(new URL(BUNDLED ? './worker.mjs' : './worker-entry.js', import.meta.url));

/** Everything a process group of this package needs beside its config and logger. */
export interface Assembly {
  builtins: readonly PluginEntry[];
  affinity: AffinityLookup;
  workerEntry: string;
}

export function assembly(): Assembly {
  return { builtins: builtinPlugins(), affinity: affinityLookup, workerEntry };
}
