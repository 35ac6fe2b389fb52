/**
 * The config fields of the connection limits plugin: their specs (checked and resolved by
 * the core with the config) and their types, added to the config types users write.
 */
import type { Duration, FieldsSchema } from 'protobalance';
import { MAX_PER_WINDOW } from './rate.ts';

/** Connections a client address may open per window: `{ connections: 20, per: '1s' }`. */
export interface ClientRate {
  /** New connections allowed per window, from one client address (1-65535). */
  connections: number;
  /** The window: `'1s'`, `'1m'`, … or ms. */
  per: Duration;
}

/** Where clients wait when every node of the cluster is full. */
export interface QueueConfig {
  /** How many clients may wait at once, in the whole group (0: none; a full node refuses at once with code `queue-full`). */
  size: number;
  /** How long a client waits at most before it is refused with code `queue-timeout` (default `'10s'`). */
  timeout?: Duration | undefined;
}

declare module 'protobalance' {
  interface NodeFields {
    /** Connections this node takes at most, across every process of the group; the other nodes take the overflow. */
    maxConnections?: number | undefined;
  }
  interface ListenerFields {
    /** Clients this listener holds at most, across every process; more are refused with code `listener-limit`. */
    maxConnections?: number | undefined;
    /** New connections per client address per window; more are refused with code `client-rate`. */
    clientRate?: ClientRate | undefined;
  }
  interface ResolvedListenerFields {
    clientRate?: { connections: number; per: number } | undefined;
  }
  interface ClusterFields {
    /** A bounded queue for clients that find every node full (needs nodes with `maxConnections`). */
    queue?: QueueConfig | undefined;
  }
  interface ResolvedClusterFields {
    queue?: { size: number; timeout: number } | undefined;
  }
}

export const fields = {
  node: {
    maxConnections: { type: 'integer', min: 1, description: 'connections this node takes at most, in the whole group' },
  },
  listener: {
    maxConnections: { type: 'integer', min: 1, description: 'clients this listener holds at most, in the whole group' },
    clientRate: {
      type: 'object',
      description: 'new connections one client address may open per window',
      fields: {
        connections: { type: 'integer', min: 1, max: MAX_PER_WINDOW, required: true },
        per: { type: 'duration', min: 1, required: true },
      },
    },
  },
  cluster: {
    queue: {
      type: 'object',
      description: 'where clients wait when every node is full',
      fields: {
        size: { type: 'integer', min: 0, required: true },
        timeout: { type: 'duration', min: 0, default: '10s' },
      },
    },
  },
} satisfies FieldsSchema;
