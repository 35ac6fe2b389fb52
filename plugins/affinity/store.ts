/**
 * Where client bindings (cluster + client address → node id) live. The affinity plugin
 * only talks to this interface: SQLite by default (`sqlite-store.ts`), Redis when a cluster
 * says `affinity.store: 'redis://…'` (`redis-store.ts`, shared by twin balancers).
 *
 * Contract: `get` runs on the forwarding path, once per new connection, so it must answer
 * from memory, synchronously, without I/O; `set` and `delete` may write behind (queue and
 * persist later). A store keeps at most `maxEntries` bindings per cluster (the least
 * recently seen go first) and never returns one last seen more than `ttl` ago.
 */

export interface AffinityLimits {
  /** Milliseconds a binding lives after the client was last seen. */
  ttl: number;
  /** Most bindings kept for the cluster, in memory and on disk. */
  maxEntries: number;
}

/** What every store is told at construction, beside its own options. */
export interface StoreOptionsBase {
  /** Milliseconds between a write and the batch that persists it. */
  flushInterval?: number;
  /** Most queued writes kept while writing fails. */
  maxPending?: number;
  /** The clock, epoch ms (tests move it). */
  now?: () => number;
  /** Told about failures; the store keeps working from memory. */
  onError?: (err: unknown, what: string) => void;
  /** Told when writing works again after a failure. */
  onRecover?: () => void;
}

export interface AffinityStore {
  /**
   * Set (or change, on a reload) a cluster's limits. The first call for a cluster loads its
   * stored bindings. `get`, `set` and `delete` ignore clusters never configured.
   */
  configure(cluster: string, limits: AffinityLimits): void;
  /** Drop a cluster's bindings from memory (they stay stored): no generation uses it any more. */
  unload(cluster: string): void;
  /** The node id `client` is bound to in `cluster`, unless expired. */
  get(cluster: string, client: string): string | undefined;
  /** Bind `client` to `node` (or refresh the binding), seen now. */
  set(cluster: string, client: string, node: string): void;
  delete(cluster: string, client: string): void;
  /** Persist what is pending and release the store. */
  close(): void;
}
