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
import accessControl from './access-control/index.ts';
import connectionLimits from './connection-limits/index.ts';
import proxyProtocol from './proxy-protocol/index.ts';
import slowStart from './slow-start/index.ts';

/**
 * The built-in plugins, in the order they are applied. The four that a config's fields
 * enable (PROXY protocol, access control, connection limits, slow start) tap nothing
 * without them, so a config that names none of their fields pays nothing for them.
 */
export function builtinPlugins(): readonly PluginEntry[] {
  return [proxyProtocol, accessControl, nodeStateFilter, fallover, loadProbe, activeCheck, balancers, affinity, connectionLimits, slowStart, accessLog];
}

/** What the admin API needs of client affinity (`GET` / `DELETE /api/affinity/...`). */
export const affinityLookup = { bound: boundNode, forget: forgetClient, health: affinityHealth };

/** The transport of a config's `fleet`. */
export { redisFleet };
