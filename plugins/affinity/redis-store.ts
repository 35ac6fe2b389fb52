/**
 * The affinity store on Redis, shared by twin balancers (`affinity.store: 'redis://…'`).
 *
 * The forwarding path never waits for Redis: an in-memory map per cluster, in least
 * recently seen order and bounded by `maxEntries`, answers `get`. On a miss (or a binding
 * that looks expired here) `get` answers "none" now and fetches the key in the background,
 * so that the client's next connection sees what another balancer wrote. Writes are queued
 * (one per client at most) and sent in one pipeline on a short timer: `SET key node PX ttl`
 * (Redis expires the binding itself) or `DEL key`. Keys are `pb:aff:<cluster>:<client>`.
 * A new, moved or forgotten binding is also published on the cluster's channel
 * (`pb:aff:<cluster>`), so that twins update their memory at once; refreshes are not.
 * When a cluster is configured (and once Redis answers), its bindings are loaded in the
 * background (SCAN, at most `maxEntries`), so a balancer that starts after its twin knows
 * their clients before their first connection.
 *
 * Redis unreachable: `get` answers from memory, `set` keeps memory and queues (past
 * `maxPending` queued writes the oldest are dropped), nothing throws. `onError` is told
 * once per outage, `onRecover` when Redis is back (ioredis reconnects with backoff), and
 * `health()` says which. The queued writes are sent after the reconnection.
 */
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { describeError } from '../shared/describe-error.ts';
import { openRedis, redactRedisUrl } from '../shared/redis-connection.ts';
import { channelOf, keyOf, seenFrom, storedBindings, type Binding } from './redis-keys.ts';
import { MissLookups } from './redis-lookups.ts';
import type { AffinityLimits, AffinityStore, StoreOptionsBase } from './store.ts';

/** `flushInterval` defaults to 50 ms (the pipeline), `maxPending` to 100,000 writes. */
export interface RedisStoreOptions extends StoreOptionsBase {
  /** `redis://host:port/db`. */
  url: string;
  /** Most background fetches in flight (default 1,000); past it a miss is not fetched. */
  maxFetches?: number;
}

export interface RedisStoreHealth {
  store: 'redis';
  /** The URL without its password. */
  url: string;
  state: 'connecting' | 'up' | 'down' | 'closed';
  /** Writes waiting for Redis. */
  pending: number;
  /** The last error while down. */
  error?: string;
}


interface ClusterState {
  limits: AffinityLimits;
  map: Map<string, Binding>;
}

/** What twins publish: a binding made or moved (`node`), or forgotten (`node: null`). */
interface Announce {
  from: string;
  client: string;
  node: string | null;
  seen: number;
}

/** A queued write: the binding to store (and whether to announce it), or null to delete. */
interface Pending {
  cluster: string;
  client: string;
  binding: Binding | null;
  announce: boolean;
}

export { channelOf, keyOf };

const REWRITE_MAX_MS = 60_000;

export class RedisAffinityStore implements AffinityStore {
  readonly url: string;
  private readonly id = randomUUID();
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly clusters = new Map<string, ClusterState>();
  /** `cluster\0client` → write, oldest first. */
  private readonly pending = new Map<string, Pending>();
  private readonly lookups: MissLookups;
  /** Clusters whose bindings were loaded from Redis (or are being). */
  private readonly warmed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private down = false;
  private everUp = false;
  private closed = false;
  private lastError: string | undefined;
  private readonly flushInterval: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown, what: string) => void;
  private readonly onRecover: () => void;

  constructor(options: RedisStoreOptions) {
    this.url = redactRedisUrl(options.url);
    this.flushInterval = options.flushInterval ?? 50;
    this.maxPending = options.maxPending ?? 100_000;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => {});
    this.onRecover = options.onRecover ?? (() => {});
    this.redis = openRedis(options.url);
    this.sub = openRedis(options.url, 'subscriber');
    this.lookups = new MissLookups(this.redis, options.maxFetches ?? 1_000, (cluster, client, node, left) => {
      const state = this.clusters.get(cluster);
      if (!state || state.map.has(client)) return;
      state.map.set(client, { node, seen: seenFrom(left, state.limits.ttl, this.now()) });
      this.evictOver(state);
    });
    this.redis.on('error', (err: unknown) => this.failed(err, 'Redis unreachable; serving bindings from memory'));
    this.redis.on('ready', () => this.ready());
    this.redis.on('close', () => this.failed(new Error('connection to Redis closed'), 'Redis unreachable; serving bindings from memory'));
    this.sub.on('error', () => {});
    this.sub.on('message', (channel: string, text: string) => this.heard(channel, text));
  }

  health(): RedisStoreHealth {
    const state = this.closed ? 'closed' : this.down ? 'down' : this.redis.status === 'ready' ? 'up' : 'connecting';
    return { store: 'redis', url: this.url, state, pending: this.pending.size, ...(this.down && this.lastError ? { error: this.lastError } : {}) };
  }

  configure(cluster: string, limits: AffinityLimits): void {
    const state = this.clusters.get(cluster);
    if (state) {
      state.limits = { ...limits };
      this.evictOver(state);
      return;
    }
    this.clusters.set(cluster, { limits: { ...limits }, map: new Map() });
    this.sub.subscribe(channelOf(cluster)).catch(() => {});
    this.warm(cluster);
  }

  unload(cluster: string): void {
    if (!this.clusters.delete(cluster)) return;
    this.warmed.delete(cluster);
    this.sub.unsubscribe(channelOf(cluster)).catch(() => {});
  }

  get(cluster: string, client: string): string | undefined {
    const state = this.clusters.get(cluster);
    if (!state) return undefined;
    const binding = state.map.get(client);
    if (binding && this.now() - binding.seen <= state.limits.ttl) return binding.node;
    if (binding) state.map.delete(client);
    if (!this.closed) this.lookups.fetch(cluster, client);
    return undefined;
  }

  set(cluster: string, client: string, node: string): void {
    const state = this.clusters.get(cluster);
    if (!state) return;
    const before = state.map.get(client);
    const now = this.now();
    // A returning client's binding is written again only when its TTL in Redis has run
    // down by a twentieth (at most a minute): each write is a Redis command for every
    // connection, and twins need the node, not the last second the client was seen.
    const fresh = before !== undefined && before.node === node && before.written !== undefined && now - before.written < Math.min(state.limits.ttl / 20, REWRITE_MAX_MS);
    const binding: Binding = { node, seen: now, written: fresh ? before.written : now };
    state.map.delete(client);
    state.map.set(client, binding);
    this.evictOver(state);
    if (!fresh) this.queue({ cluster, client, binding, announce: before?.node !== node });
  }

  delete(cluster: string, client: string): void {
    const state = this.clusters.get(cluster);
    if (!state) return;
    state.map.delete(client);
    this.queue({ cluster, client, binding: null, announce: true });
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearTimeout(this.timer);
    this.lookups.close();
    this.sub.disconnect();
    // quit runs after the pipeline just sent; when down, nothing more can be written.
    if (this.redis.status === 'ready') this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  private evictOver(state: ClusterState): void {
    // Redis expires evicted keys itself (PX): memory only is bounded here.
    for (const client of state.map.keys()) {
      if (state.map.size <= state.limits.maxEntries) break;
      state.map.delete(client);
    }
  }

  private queue(p: Pending): void {
    if (this.closed) return;
    const key = `${p.cluster}\0${p.client}`;
    const old = this.pending.get(key);
    if (old) p.announce ||= old.announce;
    this.pending.delete(key);
    this.pending.set(key, p);
    for (const k of this.pending.keys()) {
      if (this.pending.size <= this.maxPending) break;
      this.pending.delete(k);
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushInterval).unref();
  }

  /** Sends what is queued, in one pipeline; kept queued while Redis is down. */
  private flush(): void {
    if (this.closed || this.pending.size === 0 || this.redis.status !== 'ready') return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    const pipe = this.redis.pipeline();
    for (const p of batch) {
      const ttl = this.clusters.get(p.cluster)?.limits.ttl;
      const key = keyOf(p.cluster, p.client);
      if (p.binding === null) pipe.del(key);
      else if (ttl !== undefined) pipe.set(key, p.binding.node, 'PX', Math.max(1, ttl));
      if (p.announce) {
        const msg: Announce = { from: this.id, client: p.client, node: p.binding?.node ?? null, seen: p.binding?.seen ?? 0 };
        pipe.publish(channelOf(p.cluster), JSON.stringify(msg));
      }
    }
    pipe.exec().then(
      (results) => {
        const failed = results?.find(([err]) => err)?.[0];
        if (failed) this.requeue(batch, failed);
      },
      (err: unknown) => this.requeue(batch, err),
    );
  }

  private requeue(batch: Pending[], err: unknown): void {
    if (this.closed) return;
    // Newer writes of the same client win over the failed ones.
    for (const p of batch) {
      const key = `${p.cluster}\0${p.client}`;
      if (!this.pending.has(key)) this.pending.set(key, p);
    }
    this.failed(err, 'Redis writes failed; they stay queued');
  }

  /** Loads a cluster's bindings from Redis in the background, newest last (they go last). */
  private warm(cluster: string): void {
    const state = this.clusters.get(cluster);
    if (!state || this.closed || this.warmed.has(cluster) || this.redis.status !== 'ready') return;
    this.warmed.add(cluster);
    // Twins may hold more than one balancer's `maxEntries` between them: look at a few
    // times as many keys and keep the most recently seen.
    const most = state.limits.maxEntries * 4;
    const load = async () => {
      const found = await storedBindings(this.redis, cluster, state.limits.ttl, most, this.now());
      if (this.clusters.get(cluster) !== state) return;
      // Bindings made here meanwhile are newer: only the room left is filled, newest first.
      const fresh = found.filter(([client]) => !state.map.has(client));
      const room = Math.max(0, state.limits.maxEntries - state.map.size);
      for (const [client, binding] of fresh.slice(Math.max(0, fresh.length - room))) state.map.set(client, binding);
    };
    load().catch(() => this.warmed.delete(cluster));
  }

  private heard(channel: string, text: string): void {
    let m: Announce;
    try {
      m = JSON.parse(text) as Announce;
    } catch {
      return;
    }
    if (m.from === this.id || !channel.startsWith('pb:aff:')) return;
    const state = this.clusters.get(channel.slice('pb:aff:'.length));
    if (!state || typeof m.client !== 'string') return;
    state.map.delete(m.client);
    if (typeof m.node === 'string') {
      state.map.set(m.client, { node: m.node, seen: typeof m.seen === 'number' ? m.seen : this.now() });
      this.evictOver(state);
    }
  }

  private failed(err: unknown, what: string): void {
    this.lastError = describeError(err);
    if (this.down || this.closed) return;
    this.down = true;
    this.onError(err, what);
  }

  private ready(): void {
    this.everUp = true;
    if (this.down) {
      this.down = false;
      this.lastError = undefined;
      this.onRecover();
    }
    for (const cluster of this.clusters.keys()) this.warm(cluster);
    this.flush();
  }

  /** True once Redis answered at least once (for tests and status). */
  get connected(): boolean {
    return this.everUp && !this.down && this.redis.status === 'ready';
  }
}
