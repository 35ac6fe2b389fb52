/**
 * Client affinity: a client (by host address) goes back to the node that served it last,
 * for every cluster whose config has `affinity: { enabled: true }`, across restarts.
 *
 * - `resolveAffinity` answers the node id stored for the cluster and the client's
 *   normalized address (`address.ts`: IPv4-mapped IPv6 is IPv4, IPv6 is canonical), when
 *   that node still exists in the cluster. It reads memory only: no I/O per connection.
 * - `connected` records the binding to the node that actually served, and refreshes its
 *   last-seen time (the binding's `ttl` runs from there).
 *
 * Decision: when the bound node cannot take the client (unavailable, yellow or red), the
 * client falls over like any other connection: the core ignores a bound id that is not
 * among the filtered candidates. The binding then MOVES to the node that served: a
 * client with long sessions has its newest session on that node now, and sending it back
 * to the old node later would lose that session. Only a node of the client's own cluster
 * is recorded; when a fall-over cluster served, the binding is left as it was.
 *
 * Storage: one SQLite database per state directory (`<stateDir>/affinity.db`, see
 * `sqlite-store.ts`), opened once per balancer process and shared by the generations:
 * a module-level map keyed by the file's path counts the generations using it. A
 * generation takes it when it starts serving (`listening` on start, `configChanged` on a
 * reload, which runs before the previous generation's `shutdown`), and gives it back in its
 * `shutdown`; the last one out closes it (writing what is queued). Taking it only once
 * serving, rather than in `init`, keeps `protobalance check` and a reload that fails
 * from touching the state directory, and pairs every take with a `shutdown`. Connections
 * still open in a generation that was replaced go on using the database the newer
 * generation holds. No database is opened when no cluster enables affinity.
 *
 * If the database cannot be opened (unwritable state directory, a damaged file), the
 * error is logged and bindings are kept in memory only, so that traffic still flows.
 *
 * A cluster with `affinity.store: 'redis://…'` keeps its bindings in Redis instead
 * (`redis-store.ts`), shared by twin balancers; the same map, keyed by the URL and the
 * database's path (one balancer's generations share one client, balancers in one process
 * don't), holds it. Redis tells twins (and worker processes) about
 * new bindings itself, so peer messages are for SQLite only.
 */
import path from 'node:path';
import { definePlugin, type Logger, type Peers, type ResolvedCluster } from 'protobalance';
import { normalizeClientAddress } from './address.ts';
import { RedisAffinityStore } from './redis-store.ts';
import { SqliteAffinityStore } from './sqlite-store.ts';
import type { AffinityStore } from './store.ts';

export const DB_FILE = 'affinity.db';

interface Shared {
  store: SqliteAffinityStore | RedisAffinityStore;
  /** Generations holding the store. */
  holders: number;
  /** Cluster name → generations that configured it. */
  clusters: Map<string, number>;
}

/** Open databases by file path, for this process. */
const shared = new Map<string, Shared>();

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function openStore(file: string, logger: Logger): SqliteAffinityStore {
  const callbacks = {
    onError: (err: unknown, what: string) => logger.warn({ file, err: describe(err) }, `affinity store: ${what}`),
    onRecover: () => logger.info({ file }, 'affinity store: writing works again'),
  };
  try {
    return new SqliteAffinityStore({ file, ...callbacks });
  } catch (err) {
    logger.error({ file, err: describe(err) }, 'cannot open the affinity database; bindings are kept in memory only');
    return new SqliteAffinityStore({ file: ':memory:', ...callbacks });
  }
}

function openRedis(url: string, logger: Logger): RedisAffinityStore {
  const store: RedisAffinityStore = new RedisAffinityStore({
    url,
    onError: (err, what) => logger.warn({ store: store.url, err: describe(err), health: store.health() }, `affinity store: ${what}`),
    onRecover: () => logger.info({ store: store.url }, 'affinity store: Redis reachable again'),
  });
  return store;
}

function acquire(file: string, clusters: readonly ResolvedCluster[], logger: Logger): void {
  let entry = shared.get(file);
  if (!entry) {
    const store = isRedis(file) ? openRedis(file.split('\0')[0]!, logger) : openStore(file, logger);
    entry = { store, holders: 0, clusters: new Map() };
    shared.set(file, entry);
  }
  entry.holders++;
  // The newest generation's limits win (they are what the config says now).
  for (const c of clusters) {
    entry.store.configure(c.name, { ttl: c.affinity.ttl, maxEntries: c.affinity.maxEntries });
    entry.clusters.set(c.name, (entry.clusters.get(c.name) ?? 0) + 1);
  }
}

function release(file: string, clusters: readonly ResolvedCluster[]): void {
  const entry = shared.get(file);
  if (!entry) return;
  for (const c of clusters) {
    const left = (entry.clusters.get(c.name) ?? 1) - 1;
    if (left > 0) entry.clusters.set(c.name, left);
    else {
      entry.clusters.delete(c.name);
      entry.store.unload(c.name);
    }
  }
  if (--entry.holders > 0) return;
  shared.delete(file);
  entry.store.close();
}

const isRedis = (key: string) => /^rediss?:/.test(key);

/** Paths of the affinity databases this process holds open (for tests and diagnostics). */
export function openAffinityDatabases(): string[] {
  return [...shared.keys()].filter((k) => !isRedis(k));
}

/** The Redis store of `url` for `stateDir`'s balancer, while held (its `health()` for status). */
export function redisAffinityStore(url: string, stateDir: string): RedisAffinityStore | undefined {
  const store = shared.get(`${url}\0${path.resolve(stateDir, DB_FILE)}`)?.store;
  return store instanceof RedisAffinityStore ? store : undefined;
}

/** The store serving `stateDir`, while some generation holds it. */
export function affinityStore(stateDir: string): AffinityStore | undefined {
  return shared.get(path.resolve(stateDir, DB_FILE))?.store;
}

function sqliteAt(file: string): SqliteAffinityStore | undefined {
  const store = shared.get(file)?.store;
  return store instanceof SqliteAffinityStore ? store : undefined;
}

/** The store holding `cluster`'s bindings for `stateDir`'s balancer (SQLite or Redis), while held. */
function storeServing(stateDir: string, cluster: string): { key: string; store: AffinityStore } | undefined {
  const file = path.resolve(stateDir, DB_FILE);
  for (const [key, entry] of shared) {
    if ((key === file || key.endsWith(`\0${file}`)) && entry.clusters.has(cluster)) return { key, store: entry.store };
  }
  return undefined;
}

/** The node `client` (any address form) is bound to in `cluster`, if any. */
export function boundNode(stateDir: string, cluster: string, client: string): string | undefined {
  const key = normalizeClientAddress(client);
  return key === '' ? undefined : storeServing(stateDir, cluster)?.store.get(cluster, key);
}

/**
 * Forget `client`'s binding in `cluster`, here and in the group's other processes (through
 * `peers` for SQLite; Redis tells every process and twin itself). False when there was none.
 */
export function forgetClient(stateDir: string, cluster: string, client: string, peers: Peers): boolean {
  const key = normalizeClientAddress(client);
  const serving = storeServing(stateDir, cluster);
  if (key === '' || !serving || serving.store.get(cluster, key) === undefined) return false;
  serving.store.delete(cluster, key);
  if (peers.shared && !isRedis(serving.key)) peers.send(PEER_TOPIC, { file: serving.key, cluster, client: key, node: null, seen: 0 } satisfies PeerBinding);
  return true;
}

/** Where `cluster`'s bindings live, and whether that store works now (for status). */
export function affinityHealth(stateDir: string, cluster: string): Record<string, unknown> | undefined {
  const serving = storeServing(stateDir, cluster);
  if (!serving) return undefined;
  return serving.store instanceof RedisAffinityStore ? { ...serving.store.health() } : { store: 'sqlite', file: serving.key };
}

const PEER_TOPIC = 'affinity';

/** A binding one process made, as the others hear it. */
interface PeerBinding {
  file: string;
  cluster: string;
  client: string;
  /** null: the binding was forgotten (the admin API). */
  node: string | null;
  seen: number;
}

/** What this plugin keeps in `ctx.data.affinity`. */
interface ConnectionAffinity {
  client: string;
  bound: string | undefined;
}

export default definePlugin({
  name: 'affinity',
  apply(hooks, api) {
    const enabled = Object.values(api.config.clusters).filter((c) => c.affinity.enabled);
    if (enabled.length === 0) return;
    const names = new Set(enabled.map((c) => c.name));
    const file = path.resolve(api.config.stateDir, DB_FILE);
    // Cluster name → the key of its store in `shared` (the SQLite file, or a Redis URL).
    const keyOf = new Map(enabled.map((c) => [c.name, c.affinity.store ? `${c.affinity.store}\0${file}` : file]));
    const groups = new Map<string, ResolvedCluster[]>();
    for (const c of enabled) groups.set(keyOf.get(c.name)!, [...(groups.get(keyOf.get(c.name)!) ?? []), c]);
    const storeOf = (cluster: string) => shared.get(keyOf.get(cluster) ?? file)?.store;
    let holding = false;
    let stopHearing: (() => void) | undefined;
    const take = () => {
      if (holding) return;
      holding = true;
      for (const [key, clusters] of groups) acquire(key, clusters, api.logger);
      if (api.peers.shared && groups.has(file)) {
        sqliteAt(file)?.shareWithOtherProcesses();
        stopHearing = api.peers.on(PEER_TOPIC, (msg) => {
          const m = msg as PeerBinding;
          if (m.file !== file) return;
          const store = sqliteAt(file);
          if (m.node === null) store?.forget(m.cluster, m.client);
          else store?.adopt(m.cluster, m.client, m.node, m.seen);
        });
      }
    };
    hooks.listening.tap('affinity', take);
    hooks.configChanged.tap('affinity', take);
    hooks.shutdown.tap('affinity', () => {
      if (!holding) return;
      holding = false;
      stopHearing?.();
      for (const [key, clusters] of groups) release(key, clusters);
    });

    hooks.resolveAffinity.tap('affinity', (ctx) => {
      if (!names.has(ctx.cluster.name)) return undefined;
      const client = normalizeClientAddress(ctx.client.address);
      if (client === '') return undefined;
      const bound = storeOf(ctx.cluster.name)?.get(ctx.cluster.name, client);
      const data: ConnectionAffinity = { client, bound };
      ctx.data.affinity = data;
      // A node removed from the config is no binding; the next connect replaces it.
      return bound !== undefined && ctx.cluster.node(bound) ? bound : undefined;
    });

    hooks.connected.tap('affinity', (ctx, node) => {
      if (!names.has(ctx.cluster.name) || node.cluster !== ctx.cluster.name) return;
      let data = ctx.data.affinity as ConnectionAffinity | undefined;
      if (!data) {
        const client = normalizeClientAddress(ctx.client.address);
        if (client === '') return;
        data = { client, bound: undefined };
      }
      storeOf(ctx.cluster.name)?.set(ctx.cluster.name, data.client, node.id);
      // A new or moved binding holds in the other worker processes at once (refreshes
      // need not: they read the file when their own copy looks expired).
      if (data.bound !== node.id && api.peers.shared && keyOf.get(ctx.cluster.name) === file) {
        const m: PeerBinding = { file, cluster: ctx.cluster.name, client: data.client, node: node.id, seen: Date.now() };
        api.peers.send(PEER_TOPIC, m);
      }
      if (data.bound !== undefined && data.bound !== node.id) {
        api.logger.debug(
          { client: data.client, cluster: ctx.cluster.name, from: data.bound, to: node.id },
          'affinity: client moved to another node',
        );
        data.bound = node.id;
      }
    });
  },
});
