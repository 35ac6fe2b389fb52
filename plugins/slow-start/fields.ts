/**
 * The config field of the slow-start plugin: `slowStart` on clusters, declared for the
 * config check (`FIELDS`, the plugin's `fields`) and for TypeScript (the augmentation:
 * written as a duration, resolved to milliseconds on `cluster.config.slowStart`).
 *
 * No default: a cluster without the field has no slow start, and the plugin then does
 * nothing for it (no timer, no hook work).
 */
import type { Duration, Plugin } from 'protobalance';

declare module 'protobalance' {
  interface ClusterFields {
    /**
     * Ramp a node that comes back (available again, or green again) or is added at run
     * time from a small share of its load factor up to all of it over this window.
     */
    slowStart?: Duration | undefined;
  }
  interface ResolvedClusterFields {
    /** In milliseconds. */
    slowStart?: number | undefined;
  }
}

export const FIELDS = {
  cluster: {
    slowStart: {
      type: 'duration',
      min: 0,
      description: 'ramp a node that comes back or is added from a small share of its load factor to all of it over this window (0: off)',
    },
  },
} satisfies NonNullable<Plugin['fields']>;
