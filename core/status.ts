/**
 * Live figures of every node, as one process sees them, and their sum over the processes
 * of a group: what `protobalance status` and the admin API report. Counters add up; the
 * state and availability are the same in every process (availability: a node any
 * process can reach is available).
 */
import type { Cluster } from './cluster.ts';
import type { NodeState } from './types.ts';

export interface NodeStatus {
  key: string;
  cluster: string;
  id: string;
  address: string;
  /** The configured factor (the config's, or a runtime change's). */
  loadFactor: number;
  /** Present while a plugin weighs the node at less than its factor (slow start): the scale, 0-1. */
  loadFactorScale?: number;
  state: NodeState;
  available: boolean;
  activeConnections: number;
  totalConnections: number;
  failures: number;
  fallovers: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections per second and bytes per second, exponentially weighted. */
  connectionRate: number;
  bytesRate: number;
}

export function nodeStatuses(clusters: Iterable<Cluster>): NodeStatus[] {
  const out: NodeStatus[] = [];
  for (const cluster of clusters) {
    for (const n of cluster.nodes) {
      out.push({
        key: n.key,
        cluster: n.cluster,
        id: n.id,
        address: n.address,
        loadFactor: n.configuredLoadFactor,
        ...(n.loadFactorScale < 1 ? { loadFactorScale: n.loadFactorScale } : {}),
        state: n.state,
        available: n.available,
        activeConnections: n.activeConnections,
        totalConnections: n.totalConnections,
        failures: n.failures,
        fallovers: n.fallovers,
        bytesIn: n.bytesIn,
        bytesOut: n.bytesOut,
        connectionRate: n.connectionRate,
        bytesRate: n.bytesRate,
      });
    }
  }
  return out;
}

/** One list from several processes' lists: counters summed per node key. */
export function sumStatuses(lists: readonly (readonly NodeStatus[])[]): NodeStatus[] {
  const byKey = new Map<string, NodeStatus>();
  for (const list of lists) {
    for (const s of list) {
      const seen = byKey.get(s.key);
      if (!seen) {
        byKey.set(s.key, { ...s });
        continue;
      }
      seen.available ||= s.available;
      seen.activeConnections += s.activeConnections;
      seen.totalConnections += s.totalConnections;
      seen.failures += s.failures;
      seen.fallovers += s.fallovers;
      seen.bytesIn += s.bytesIn;
      seen.bytesOut += s.bytesOut;
      seen.connectionRate += s.connectionRate;
      seen.bytesRate += s.bytesRate;
    }
  }
  return [...byKey.values()];
}

/** What one listener's clients met: accepted by the socket, and turned away without a node. */
export interface ListenerStatus {
  listener: string;
  accepted: number;
  refused: number;
  /**
   * `refused` by code: 'no-node', 'unavailable', 'local-shortage', 'preface', 'refused'
   * (a plugin's plain string), 'plugin-error', 'no-route', 'stopping', or a plugin's own.
   * The counts add up to `refused`.
   */
  refusedBy: Record<string, number>;
}

/** Counts by code added into `into` (a code such as `__proto__` stays a plain key). */
export function addRefusals(into: Record<string, number>, from: Readonly<Record<string, number>> | undefined): void {
  for (const [code, n] of Object.entries(from ?? {})) {
    if (typeof n !== 'number') continue;
    const had = Object.hasOwn(into, code) ? into[code]! : 0;
    Object.defineProperty(into, code, { value: had + n, enumerable: true, writable: true, configurable: true });
  }
}

/** Everything a process counts, as the admin API and /metrics read it. */
export interface Snapshot {
  nodes: NodeStatus[];
  listeners: ListenerStatus[];
  /** The primary's config generation this process serves (per-process snapshots only). */
  generation?: number;
}

/** One snapshot from several processes': nodes as `sumStatuses`, listener counts added. */
export function sumSnapshots(list: readonly Snapshot[]): Snapshot {
  const listeners = new Map<string, ListenerStatus>();
  for (const s of list) {
    for (const l of s.listeners) {
      const seen = listeners.get(l.listener);
      if (!seen) {
        const refusedBy = {};
        addRefusals(refusedBy, l.refusedBy);
        listeners.set(l.listener, { ...l, refusedBy });
      } else {
        seen.accepted += l.accepted;
        seen.refused += l.refused;
        addRefusals(seen.refusedBy, l.refusedBy);
      }
    }
  }
  return { nodes: sumStatuses(list.map((s) => s.nodes)), listeners: [...listeners.values()] };
}
