/**
 * The built-in plugins, loaded before a config's own. They are plugin objects, checked by
 * the same `loadPlugin` as third-party packages. The core never imports this file: the
 * places that put a process together (app/) hand these to it.
 */
import type { PluginEntry } from 'protobalance';
import affinity, { affinityHealth, boundNode, forgetClient } from './affinity/index.ts';
import balancers from './balancers/index.ts';
import fallover from './fallover/chain.ts';
import activeCheck from './health/active-check.ts';
import nodeStateFilter from './health/node-state-filter.ts';
import { redisFleet } from './fleet/redis-fleet.ts';
import accessLog from './logging/access-log.ts';
import loadProbe from './metrics/load-probe.ts';

/** The built-in plugins, in the order they are applied. */
export function builtinPlugins(): readonly PluginEntry[] {
  return [nodeStateFilter, fallover, loadProbe, activeCheck, balancers, affinity, accessLog];
}

/** What the admin API needs of client affinity (`GET` / `DELETE /api/affinity/...`). */
export const affinityLookup = { bound: boundNode, forget: forgetClient, health: affinityHealth };

/** The transport of a config's `fleet`. */
export { redisFleet };
