/**
 * The plugin's shared memory, taken from `api.shared` in every generation (the same
 * arrays each time: the core keeps them across reloads), and what lives as long as the
 * process rather than a generation.
 */
import type { Logger, SharedMemory } from 'protobalance';
import { NAMES, rowsLength, SharedLimits, TABLE_LENGTH } from './slots.ts';
import { WaitList, type Watched } from './queue.ts';

export const NAME = 'connection-limits';

/** A node a queued client waits for, with what tells whether it has room. */
export interface WatchedNode extends Watched {
  /** Free slots now, across the group; 0 when the node cannot take a client (full, down, not green). */
  readonly free: () => number;
}

export interface Memory {
  readonly limits: SharedLimits;
  /** This process's queued clients, shared by every generation (a release wakes them all alike). */
  readonly waits: WaitList<WatchedNode>;
  /**
   * The part of a group-wide limit this process enforces: all of it when the counts are
   * shared; else its share (rounded down, at least `least`), so that the processes
   * together stay near the limit rather than each taking all of it.
   */
  share(limit: number, least: number): number;
}

/**
 * How often a process polls the shared counts while a client of it is queued: for slots
 * freed by another process, and for room that comes without a release here (a node back
 * up, a slot given back by a replaced process).
 */
export const POLL_MS = 5;

// The wait lists of this process, by the table they count in: they outlive generations,
// and a plugin file imported afresh at a reload finds them here (a module variable would
// start empty). Keyed by the table so that two balancers in one process (tests) stay apart.
const LISTS = Symbol.for('protobalance.connection-limits.wait-lists');
const registry = ((globalThis as Record<symbol, unknown>)[LISTS] ??= new WeakMap()) as WeakMap<Int32Array, WaitList<WatchedNode>>;

export function openMemory(shared: SharedMemory, log: Logger): Memory {
  const tableName = `${NAME}/table`;
  const rowsName = `${NAME}/rows/${shared.slots}`;
  const ownersName = `${NAME}/owners/${shared.slots}`;
  const table = shared.int32(tableName, TABLE_LENGTH);
  const limits = new SharedLimits(table, shared.int32(rowsName, rowsLength(shared.slots)), shared.slot);
  // Who holds this slot's row: a pid other than ours is a process that died and that this
  // one replaces (or nobody yet, 0), so its holdings are given back, once. Our own pid
  // means a reload of this process: its row counts live connections and must stay.
  const owners = shared.int32(ownersName, shared.slots);
  if (Atomics.exchange(owners, shared.slot, process.pid) !== process.pid) {
    const given = limits.recover();
    if (given > 0) log.info({ given, slot: shared.slot }, 'gave back the connection slots a replaced process held');
  }
  let waits = registry.get(table);
  if (!waits) registry.set(table, (waits = new WaitList<WatchedNode>((n) => n.free(), POLL_MS)));
  const exact = shared.slots === 1 || [tableName, rowsName, ownersName].every((n) => shared.sharedArray(n));
  if (!exact) {
    log.warn({ processes: shared.slots }, 'no shared memory: each process enforces its share of the connection limits and queue sizes');
  }
  return { limits, waits, share: (limit, least) => (exact ? limit : splitLimit(limit, shared.slots, least)) };
}

/** One process's share of `limit` among `slots` processes, rounded down, at least `least`. */
export function splitLimit(limit: number, slots: number, least: number): number {
  return Math.max(least, Math.floor(limit / slots));
}

/** Names in the shared table, kept apart by kind (a cluster may be called "listener"). */
export const entryName = {
  node: (key: string) => `node\0${key}`,
  listener: (name: string) => `listener\0${name}`,
  queue: (cluster: string) => `queue\0${cluster}`,
};

export { NAMES };
