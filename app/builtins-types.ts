/**
 * The declarations of `protobalance/builtins` (app/builtins.ts implements them, typed by
 * these). Apart so that the package's declarations are built from the core's types alone:
 * no plugin module, nor the types of the packages plugins use, reaches a user's project.
 */
import type { AffinityLookup } from '../core/admin/server.ts';
import type { FleetConnector } from '../core/fleet/types.ts';
import type { PluginEntry } from '../core/types.ts';

export type { AffinityLookup };

/** The built-in plugins, in the order they are applied: `createBalancer(config, { builtins: builtinPlugins() })`. */
export declare const builtinPlugins: () => readonly PluginEntry[];
/** What the admin API needs of client affinity: `new AdminServer({ ..., affinity: affinityLookup })`. */
export declare const affinityLookup: AffinityLookup;
/** The fleet transport on Redis: `new FleetSync({ ..., transport: redisFleet(config.fleet) })`. */
export declare const redisFleet: FleetConnector;
/** The worker program of a process group; it loads the built-ins itself. */
export declare const workerEntry: string;

/** Everything a process group of this package needs beside its config and logger. */
export interface Assembly {
  builtins: readonly PluginEntry[];
  affinity: AffinityLookup;
  workerEntry: string;
  /** Opens the transport of `fleet` in the config. */
  fleet: FleetConnector;
}

export declare function assembly(): Assembly;
