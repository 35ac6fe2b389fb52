/**
 * The built-ins' fast path in the sandbox: the candidates' figures as a shared
 * Float64Array (written in place by the host, core/sandbox-table.ts), found on the
 * candidates array under Symbol.for('protobalance.nodeTable'). Without it (in-process, or
 * a plain array in a test) the algorithms read NodeView objects: both paths choose alike.
 * A chooser that reads the table says which figures it needs in `usesTable` (loadFactor
 * always comes): the host writes only those, and the isolate refreshes no NodeView objects.
 */
import type { NodeView } from 'protobalance';

export interface NodeTable {
  /** `stride` doubles per candidate, in candidate order; columns as COL. */
  readonly figures: Float64Array;
  readonly stride: number;
  /** Changes whenever the candidates (ids, order or load factors) change. */
  readonly version: number;
}

/** Must match COLUMNS in core/sandbox-table.ts (test/core/large-cluster.test.ts checks). */
export const COL = {
  loadFactor: 0,
  activeConnections: 1,
  totalConnections: 2,
  connectionRate: 3,
  bytesRate: 4,
  recentFailures: 5,
  connectLatency: 6,
  state: 7,
  groupPicks: 8,
  groupLastPick: 9,
} as const;

export type Column = keyof typeof COL;

const KEY = Symbol.for('protobalance.nodeTable');

export function tableOf(nodes: readonly NodeView[]): NodeTable | undefined {
  const t = (nodes as unknown as Record<symbol, NodeTable | undefined>)[KEY];
  return t !== undefined && t.figures instanceof Float64Array && t.figures.length >= nodes.length * t.stride ? t : undefined;
}
