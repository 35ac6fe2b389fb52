/**
 * The affinity store on one SQLite file (`<stateDir>/affinity.db`), in WAL mode so that
 * several worker processes may share it.
 *
 * The forwarding path never waits for the disk: an in-memory map per cluster, in least
 * recently seen order and bounded by the cluster's `maxEntries`, answers `get`. Writes
 * (new bindings, last-seen updates, deletes) are queued, one per client at most, and
 * written in one transaction on a short timer (`flushInterval`, unref'd) and on close.
 * When a cluster is first configured, its expired rows are pruned and its most recently
 * seen `maxEntries` rows loaded into the map.
 *
 * Bounds: a binding last seen more than `ttl` ago is never returned; expired rows are
 * pruned from the file at load and every `pruneInterval`. The file never keeps more than
 * `maxEntries` rows per cluster after a flush: an entry pushed out of the memory map is
 * deleted from the file in the same flush, and every flush trims a cluster whose row count
 * (kept exact by triggers, so reading it costs nothing) went over the bound, least
 * recently seen first (rows another process wrote count too). A flood of new addresses
 * thus costs neither memory nor disk beyond `maxEntries` per cluster.
 *
 * When writing fails (disk full, the file locked by another process for longer than
 * `busyTimeout`), the writes stay queued and are retried at the next flush; past
 * `maxPending` queued writes they are dropped (memory still answers), and `onError`
 * says so. Timestamps are epoch milliseconds (wall clock), as they must survive restarts.
 *
 * A damaged file (at open, or when SQLite reports damage later) is set aside as
 * `affinity.db.corrupt-<time>` and a new one made (sqlite-open.ts); `onError` says what was
 * lost, and the bindings held in memory are written to the new file. Processes sharing the
 * file move to the new one at their next flush.
 */
import type Database from 'better-sqlite3';
import { currentInode, isCorruption, openAffinityDatabase, reopenAfterCorruption, type OpenDatabase, type Statements } from './sqlite-open.ts';
import type { AffinityLimits, AffinityStore, StoreOptionsBase } from './store.ts';

/**
 * `flushInterval` defaults to 250 ms, `maxPending` to twice every cluster's bound plus
 * 10,000; `onError` is also told of a damaged file set aside.
 */
export interface SqliteStoreOptions extends StoreOptionsBase {
  /** Path of the database file (its folder is created), or `':memory:'`. */
  file: string;
  /** Milliseconds between prunes of expired rows and entries (default 60 s). */
  pruneInterval?: number;
  /** Longest wait for a lock held by another process, in ms (default 200). */
  busyTimeout?: number;
}

interface Binding {
  node: string;
  /** Epoch ms the client was last seen. */
  seen: number;
}

interface ClusterState {
  limits: AffinityLimits;
  /** Client → binding, least recently seen first. */
  map: Map<string, Binding>;
}

/** Most damaged files one store sets aside; past it, damage is reported like any write failure. */
const MAX_REPLACEMENTS = 3;

/** A queued write: the binding to store, or null to delete the row. */
type Pending = Map<string, Map<string, Binding | null>>;

export class SqliteAffinityStore implements AffinityStore {
  readonly file: string;
  private db: Database.Database;
  /** The file's inode: a damaged file is set aside (and this store moves to the new one). */
  private ino: number;
  /** Damaged files set aside by this store. */
  private replaced = 0;
  private readonly clusters = new Map<string, ClusterState>();
  private pending: Pending = new Map();
  private pendingCount = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly pruneTimer: NodeJS.Timeout;
  private readonly flushInterval: number;
  private readonly busyTimeout: number;
  private readonly maxPending: number | undefined;
  private readonly now: () => number;
  private readonly onError: (err: unknown, what: string) => void;
  private readonly onRecover: () => void;
  private failing = false;
  private shared = false;
  private closed = false;
  private sql: Statements;
  private writeBatch: (batch: Pending) => void;

  constructor(options: SqliteStoreOptions) {
    this.file = options.file;
    this.flushInterval = options.flushInterval ?? 250;
    this.busyTimeout = options.busyTimeout ?? 200;
    this.maxPending = options.maxPending;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => {});
    this.onRecover = options.onRecover ?? (() => {});
    const opened = openAffinityDatabase(this.file, this.busyTimeout, this.onError);
    this.db = opened.db;
    this.sql = opened.sql;
    this.ino = opened.ino;
    this.writeBatch = this.batchWriter();
    const pruneInterval = options.pruneInterval ?? 60_000;
    this.pruneTimer = setInterval(() => this.prune(), pruneInterval);
    this.pruneTimer.unref();
    process.on('exit', this.onExit);
  }

  configure(cluster: string, limits: AffinityLimits): void {
    if (this.closed) return;
    const state = this.clusters.get(cluster);
    if (state) {
      state.limits = { ...limits };
      this.evictOver(cluster, state);
      return;
    }
    const map = new Map<string, Binding>();
    const since = this.now() - limits.ttl;
    try {
      const rows = this.db.transaction(() => {
        this.sql.prune.run(cluster, since);
        this.trim(cluster, limits.maxEntries);
        return this.sql.load.all({ cluster, since, limit: limits.maxEntries });
      }).immediate();
      for (let i = rows.length - 1; i >= 0; i--) {
        const row = rows[i]!;
        map.set(row.client, { node: row.node, seen: row.seen });
      }
    } catch (err) {
      // A damaged file: a new one, which holds none of this cluster's bindings yet.
      if (!this.replaceDamaged(err)) this.onError(err, `loading the bindings of cluster ${cluster}`);
    }
    this.clusters.set(cluster, { limits: { ...limits }, map });
  }

  unload(cluster: string): void {
    if (!this.clusters.has(cluster)) return;
    this.flush();
    this.clusters.delete(cluster);
  }

  get(cluster: string, client: string): string | undefined {
    const state = this.clusters.get(cluster);
    if (!state) return undefined;
    let binding = state.map.get(client);
    // Shared by several processes: what another one stored (or refreshed) is in the file.
    if (this.shared && (!binding || this.now() - binding.seen > state.limits.ttl)) binding = this.readThrough(cluster, client, state);
    if (!binding) return undefined;
    if (this.now() - binding.seen > state.limits.ttl) {
      state.map.delete(client);
      // Another process may have refreshed it since: the file is pruned by `seen` anyway.
      if (!this.shared) this.queue(cluster, client, null);
      return undefined;
    }
    return binding.node;
  }

  /**
   * Several processes share this file (workers): `get` reads a binding this process does
   * not hold from the file, and `adopt` takes one another process just made.
   */
  shareWithOtherProcesses(): void {
    this.shared = true;
  }

  /** A binding another process forgot: out of memory only (that process writes it). */
  forget(cluster: string, client: string): void {
    this.clusters.get(cluster)?.map.delete(client);
  }

  /** A binding another process made: into memory only (that process writes it). */
  adopt(cluster: string, client: string, node: string, seen: number): void {
    const state = this.clusters.get(cluster);
    if (!state) return;
    state.map.delete(client);
    state.map.set(client, { node, seen });
    this.evictOver(cluster, state);
  }

  private readThrough(cluster: string, client: string, state: ClusterState): Binding | undefined {
    if (this.closed) return undefined;
    try {
      const row = this.sql.one.get(cluster, client);
      if (!row) return state.map.get(client);
      const binding: Binding = { node: row.node, seen: row.seen };
      state.map.delete(client);
      state.map.set(client, binding);
      this.evictOver(cluster, state);
      return binding;
    } catch (err) {
      if (!this.replaceDamaged(err)) this.onError(err, 'reading a binding');
      return state.map.get(client);
    }
  }

  set(cluster: string, client: string, node: string): void {
    const state = this.clusters.get(cluster);
    if (!state) return;
    const binding: Binding = { node, seen: this.now() };
    state.map.delete(client);
    state.map.set(client, binding);
    this.queue(cluster, client, binding);
    this.evictOver(cluster, state);
  }

  delete(cluster: string, client: string): void {
    const state = this.clusters.get(cluster);
    if (!state) return;
    state.map.delete(client);
    this.queue(cluster, client, null);
  }

  /** Write every queued change now, in one transaction. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pendingCount === 0 || this.closed) return;
    // Another process of the group set a damaged file aside: write to the new one.
    if (this.shared && this.ino !== 0 && currentInode(this.file) !== this.ino) {
      this.reopen(() => openAffinityDatabase(this.file, this.busyTimeout, this.onError));
    }
    try {
      this.writeBatch(this.pending);
    } catch (err) {
      if (this.replaceDamaged(err)) {
        this.schedule();
        return;
      }
      this.failing = true;
      if (this.pendingCount > this.pendingLimit()) {
        this.onError(err, `writing ${this.pendingCount} queued changes; dropped them (memory still answers)`);
        this.pending = new Map();
        this.pendingCount = 0;
      } else {
        this.onError(err, `writing ${this.pendingCount} queued changes; retrying`);
        this.schedule();
      }
      return;
    }
    this.pending = new Map();
    this.pendingCount = 0;
    if (this.failing) {
      this.failing = false;
      this.onRecover();
    }
  }

  /** Drop expired entries from memory and expired rows from the file. */
  prune(): void {
    if (this.closed) return;
    const now = this.now();
    for (const state of this.clusters.values()) {
      // The map is in last-seen order: expired entries are at its front.
      for (const [client, binding] of state.map) {
        if (now - binding.seen <= state.limits.ttl) break;
        state.map.delete(client);
      }
    }
    try {
      this.db.transaction(() => {
        for (const [cluster, state] of this.clusters) this.sql.prune.run(cluster, now - state.limits.ttl);
      })();
    } catch (err) {
      if (!this.replaceDamaged(err)) this.onError(err, 'pruning expired bindings');
    }
  }

  /** Bindings held in memory for `cluster`. */
  size(cluster: string): number {
    return this.clusters.get(cluster)?.map.size ?? 0;
  }

  /** Queued writes not yet flushed. */
  get pendingWrites(): number {
    return this.pendingCount;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    if (this.closed) return;
    clearInterval(this.pruneTimer);
    this.flush();
    clearTimeout(this.flushTimer);
    this.closed = true;
    process.off('exit', this.onExit);
    this.clusters.clear();
    this.pending = new Map();
    this.pendingCount = 0;
    try {
      this.db.close();
    } catch (err) {
      this.onError(err, 'closing the database');
    }
  }

  /** A process that exits without stopping the balancer still writes what is queued. */
  private onExit = (): void => {
    try {
      this.flush();
    } catch {
      // Exiting anyway.
    }
  };

  private batchWriter(): (batch: Pending) => void {
    return this.db.transaction((batch: Pending) => {
      for (const [cluster, writes] of batch) {
        for (const [client, binding] of writes) {
          if (binding) this.sql.upsert.run({ cluster, client, node: binding.node, seen: binding.seen });
          else this.sql.remove.run(cluster, client);
        }
        const state = this.clusters.get(cluster);
        if (state) this.trim(cluster, state.limits.maxEntries);
      }
    });
  }

  /**
   * SQLite found the open file damaged: it is set aside (sqlite-open.ts), and the store
   * moves to a new one. False when `err` is no damage (the caller reports it).
   */
  private replaceDamaged(err: unknown): boolean {
    // A disk that keeps damaging new files would fill the folder: a few times, then report.
    if (!isCorruption(err) || this.ino === 0 || this.replaced >= MAX_REPLACEMENTS) return false;
    this.replaced++;
    const ino = this.ino;
    this.reopen(() => reopenAfterCorruption(this.file, this.busyTimeout, ino, err, this.onError));
    return true;
  }

  /**
   * Use what `open` gives, then close the old database (once the file is renamed, so that
   * closing leaves the new one alone); every binding in memory is queued for the new one.
   */
  private reopen(open: () => OpenDatabase): void {
    const old = this.db;
    let opened: OpenDatabase;
    try {
      opened = open();
    } catch (err) {
      this.onError(err, 'making a new affinity database; bindings are kept in memory only');
      opened = openAffinityDatabase(':memory:', this.busyTimeout, this.onError);
    }
    try {
      old.close();
    } catch {
      // Closing a damaged file may fail; the new one is what matters.
    }
    ({ db: this.db, sql: this.sql, ino: this.ino } = opened);
    this.writeBatch = this.batchWriter();
    for (const [cluster, state] of this.clusters) {
      for (const [client, binding] of state.map) this.queue(cluster, client, binding);
    }
  }

  private queue(cluster: string, client: string, binding: Binding | null): void {
    let writes = this.pending.get(cluster);
    if (!writes) this.pending.set(cluster, (writes = new Map()));
    const before = writes.size;
    writes.set(client, binding);
    this.pendingCount += writes.size - before;
    this.schedule();
  }

  private schedule(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => this.flush(), this.flushInterval);
    this.flushTimer.unref();
  }

  /** Push the least recently seen entries out of memory (and the file) down to the bound. */
  private evictOver(cluster: string, state: ClusterState): void {
    const over = state.map.size - state.limits.maxEntries;
    if (over <= 0) return;
    let n = 0;
    for (const client of state.map.keys()) {
      if (n++ >= over) break;
      state.map.delete(client);
      this.queue(cluster, client, null);
    }
  }

  /** Delete the least recently seen rows of `cluster` beyond `maxEntries` (inside a transaction). */
  private trim(cluster: string, maxEntries: number): void {
    const rows = this.sql.count.get(cluster)?.rows ?? 0;
    if (rows > maxEntries) this.sql.trim.run({ cluster, excess: rows - maxEntries });
  }

  private pendingLimit(): number {
    if (this.maxPending !== undefined) return this.maxPending;
    let bound = 10_000;
    for (const state of this.clusters.values()) bound += 2 * state.limits.maxEntries;
    return bound;
  }
}
