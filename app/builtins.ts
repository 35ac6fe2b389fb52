/**
 * What a process of this package is put together from: the built-in plugins, the affinity
 * lookup the admin API serves, and the worker program that loads the same built-ins.
 * Public as `protobalance/builtins` (declared in builtins-types.ts), for programs that
 * build a balancer themselves: `createBalancer(config, { builtins: builtinPlugins() })`.
 */
import { fileURLToPath } from 'node:url';
import { BUNDLED } from '../core/paths.ts';
import * as builtin from '../plugins/builtin.ts';
import type * as Api from './builtins-types.ts';

export type { AffinityLookup, Assembly } from './builtins-types.ts';

export const builtinPlugins: typeof Api.builtinPlugins = builtin.builtinPlugins;
export const affinityLookup: typeof Api.affinityLookup = builtin.affinityLookup;
export const redisFleet: typeof Api.redisFleet = builtin.redisFleet;
export const workerEntry: typeof Api.workerEntry = fileURLToPath(new URL(BUNDLED ? './worker.mjs' : './worker-entry.js', import.meta.url));

export const assembly: typeof Api.assembly = () => ({ builtins: builtinPlugins(), affinity: affinityLookup, workerEntry, fleet: redisFleet });
