/**
 * The shapes users write (config, plugins, algorithms, policies) and the plain-data
 * views that algorithms see. Everything here is re-exported from `core/index.ts`.
 */
import type { FieldsSchema, OptionsOf, OptionsSchema } from './plugin-options.ts';

/** `'2s'`, `'500ms'`, `'30d'`, or a number of milliseconds. */
export type Duration = string | number;

export type NodeState = 'green' | 'yellow' | 'red';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

// ─── fields plugins add ─────────────────────────────────────────────────────
//
// Empty here: a plugin that declares `fields` augments them, as users write the fields
// (`declare module 'protobalance' { interface ClusterFields { proxyProtocol?: 'v1' | 'v2' } }`).
// The config types and the resolved types extend them. Where the resolved value has another
// type than the written one (a duration resolves to ms, a `parse` makes something else), the
// plugin also augments the `Resolved…Fields` interface: its entry wins on the resolved type.
// Declare every field optional: a config without the plugin's fields stays valid.

/** Fields plugins add to each entry of `listeners`. */
export interface ListenerFields {}
/** Fields plugins add to each cluster. */
export interface ClusterFields {}
/** Fields plugins add to each node (in the config, and as the admin API adds nodes). */
export interface NodeFields {}
/** Types of listener fields once resolved, where they differ from `ListenerFields`. */
export interface ResolvedListenerFields {}
/** Types of cluster fields once resolved, where they differ from `ClusterFields` (`slowStart?: number`). */
export interface ResolvedClusterFields {}
/** Types of node fields once resolved, where they differ from `NodeFields`. */
export interface ResolvedNodeFields {}

// ─── config as users write it ───────────────────────────────────────────────

export interface ListenerConfig extends ListenerFields {
  /** A port, or a range `'50000-50100'` (one listening socket per port). */
  port: number | string;
  /** Interface to bind; all interfaces when omitted. */
  host?: string | undefined;
  /** Name of the cluster that receives this listener's clients. */
  cluster: string;
  /** Stable name used by `protobalance route`; defaults to the port text. */
  name?: string | undefined;
}

export interface NodeConfig extends NodeFields {
  /** Stable name of the node within its cluster; never a list position. */
  id: string;
  /** `'host:port'`, `'[v6]:port'`, or a host alone: the port the client dialled, behind any listener. */
  address: string;
  /** Share of the load, relative to the other nodes (default 1). */
  loadFactor?: number | undefined;
  /** Id of the node (same cluster) tried when this one is unavailable. */
  fallover?: string | undefined;
  connectTimeout?: Duration | undefined;
  /** Polls a number from the node (its CPU, queue length…) into `NodeView.metrics`. */
  probe?: ProbeConfig | undefined;
}

/**
 * A load probe: `url` (http://… answering a number in its body) or `tcp` ('host:port'
 * that writes a number and closes), polled every `interval`. The latest value reaches
 * algorithms and policies as `node.metrics[metric]`.
 */
export interface ProbeConfig {
  url?: string | undefined;
  tcp?: string | undefined;
  /** Default `'5s'`. */
  interval?: Duration | undefined;
  /** Default `'2s'`, never more than the interval. */
  timeout?: Duration | undefined;
  /** Metric name; default `'load'`. */
  metric?: string | undefined;
}

export interface SandboxConfig {
  /** CPU time one algorithm call may take before it is cut off (default `'50ms'`). */
  cpuTimeout?: Duration | undefined;
  /** Memory of one algorithm's isolate, in MiB (default 32). */
  memoryLimit?: number | undefined;
  /** Failures in a row after which a policy is reported broken (default 5). */
  maxFailures?: number | undefined;
}

export interface AffinityConfig {
  enabled?: boolean | undefined;
  ttl?: Duration | undefined;
  maxEntries?: number | undefined;
  /**
   * Where bindings live: a `redis://host:port/db` URL shared by twin balancers, or
   * `'sqlite'` (in the state directory; the default unless the top level names Redis).
   */
  store?: string | undefined;
}

/** The top-level `affinity`: what every cluster's `affinity` starts from (it enables none). */
export interface AffinityDefaultsConfig {
  ttl?: Duration | undefined;
  maxEntries?: number | undefined;
  /** `redis://host:port/db` for every cluster with affinity, unless it says otherwise. */
  store?: string | undefined;
}

/**
 * Balancers sharing node states (green, yellow, red) and runtime changes (load factors,
 * added and removed nodes, routes) through Redis: a change made on one reaches all.
 */
export interface FleetConfig {
  /** `redis://host:port/db`. */
  redis: string;
  /** The fleet's name, the same on every balancer of it. */
  name: string;
  /** This balancer's name in the fleet (default: host name and process id). */
  member?: string | undefined;
}

export interface ClusterConfig extends ClusterFields {
  /** Algorithm name, optionally with an argument: `'round-robin'`, `'policy:./policies/x.ts'`. */
  balance?: string | undefined;
  /** Extra options handed to the algorithm (for example `{ seed: 1 }` for `random`). */
  balanceOptions?: Record<string, unknown> | undefined;
  /** Secret for `client-hash`; twin balancers share it. */
  hashSecret?: string | undefined;
  affinity?: AffinityConfig | undefined;
  /** Name of the cluster used when none of this cluster's nodes is available. */
  fallover?: string | undefined;
  connectTimeout?: Duration | undefined;
  /** Active health checks of every node of the cluster (off when omitted). */
  healthCheck?: HealthCheckConfig | undefined;
  nodes: NodeConfig[];
}

/**
 * An active health check: every `interval`, each node is dialled; without `send` and
 * `expect` a completed connect passes. `send` is written once connected; with `expect`
 * the check passes only if the bytes received (until `expect` is seen, the node closes,
 * or `timeout`) contain it. `fall` failed checks in a row make the node unavailable,
 * `rise` passed checks in a row make it available again.
 */
export interface HealthCheckConfig {
  /** Default `'5s'`. */
  interval?: Duration | undefined;
  /** Default `'2s'`, never more than the interval. */
  timeout?: Duration | undefined;
  send?: string | undefined;
  expect?: string | undefined;
  /** Passed checks in a row that make a node available again (default 2). */
  rise?: number | undefined;
  /** Failed checks in a row that make a node unavailable (default 3). */
  fall?: number | undefined;
}

/** The admin API's address and token; `admin: false` in the config serves none. */
export interface AdminConfig {
  host?: string | undefined;
  port?: number | undefined;
  token?: string | undefined;
}

/** A plugin: a module specifier, a specifier with options, or a plugin object. */
/**
 * An entry of `plugins`: a package name or a file, a plugin object (or one that declares
 * its options), or either with options: `['statsd', { port: 8125 }]`.
 */
export type PluginEntry = string | Plugin | PluginWithOptions<any> | [string | PluginWithOptions<any>, unknown];

export interface Config {
  listeners: ListenerConfig[];
  clusters: Record<string, ClusterConfig>;
  connectTimeout?: Duration | undefined;
  retryInterval?: Duration | undefined;
  /** How long SIGINT/SIGTERM waits for open connections before closing them. */
  drainTimeout?: Duration | undefined;
  /**
   * Nodes a connection may try after its first one failed before any byte passed
   * (default 3). With `connectTimeout`, it bounds the whole dial phase of a connection:
   * at most (maxFallovers + 1) × connectTimeout.
   */
  maxFallovers?: number | undefined;
  /** Close a connection when neither side has sent anything for this long (off when omitted). */
  idleTimeout?: Duration | undefined;
  /** Window of the exponentially weighted connection and byte rates (default `'10s'`). */
  rateWindow?: Duration | undefined;
  /** Limits of the sandbox that runs algorithms and policies. */
  sandbox?: SandboxConfig | undefined;
  /** Watch the config, policies and local plugins and apply edits live (default true). */
  watch?: boolean | undefined;
  stateDir?: string | undefined;
  /** The admin API (default 127.0.0.1:9100), or `false` for none. */
  admin?: AdminConfig | false | undefined;
  plugins?: PluginEntry[] | undefined;
  /** `level` of the process log; `access: true` writes one line per connection as it ends. */
  log?: { level?: LogLevel | undefined; access?: boolean | undefined } | undefined;
  /**
   * Processes that accept and forward connections, the primary included (default
   * `'auto'`: one per CPU). Used by `protobalance start`; `createBalancer` is one process.
   */
  workers?: number | 'auto' | undefined;
  /**
   * How sockets are driven: `'fast'` (libuv handles, no stream objects), `'net'` (public
   * `net` API only) or `'auto'` (fast when this Node supports it; the default).
   */
  dataPath?: 'auto' | 'fast' | 'net' | undefined;
  /**
   * Folders, besides the config's own, that policy files (`balance: 'policy:…'`) may come
   * from. A policy path outside all of them is refused.
   */
  policyDirs?: string[] | undefined;
  /** Affinity defaults of every cluster, e.g. `{ store: 'redis://…' }` once for all. */
  affinity?: AffinityDefaultsConfig | undefined;
  /** Share node states and runtime changes with other balancers through Redis. */
  fleet?: FleetConfig | undefined;
}

// ─── config after validation ────────────────────────────────────────────────

export interface ResolvedListener extends Omit<ListenerFields, keyof ResolvedListenerFields>, ResolvedListenerFields {
  name: string;
  host: string | undefined;
  portFrom: number;
  portTo: number;
  cluster: string;
}

export interface ResolvedNode extends Omit<NodeFields, keyof ResolvedNodeFields>, ResolvedNodeFields {
  id: string;
  host: string;
  /** Undefined: the node takes the port the client dialled. */
  port: number | undefined;
  loadFactor: number;
  fallover: string | undefined;
  connectTimeout: number;
  probe: ResolvedProbe | undefined;
}

export interface ResolvedProbe {
  kind: 'http' | 'tcp';
  /** The URL, or `host:port` for tcp. */
  target: string;
  interval: number;
  timeout: number;
  metric: string;
}

export interface ResolvedHealthCheck {
  interval: number;
  timeout: number;
  send: string | undefined;
  expect: string | undefined;
  rise: number;
  fall: number;
}

export interface ResolvedCluster extends Omit<ClusterFields, keyof ResolvedClusterFields>, ResolvedClusterFields {
  name: string;
  balance: string;
  balanceOptions: Record<string, unknown>;
  hashSecret: string | undefined;
  affinity: { enabled: boolean; ttl: number; maxEntries: number; store?: string | undefined };
  fallover: string | undefined;
  connectTimeout: number;
  healthCheck: ResolvedHealthCheck | undefined;
  nodes: ResolvedNode[];
}

export interface ResolvedConfig {
  /** File the config came from, when it came from a file. */
  source: string | undefined;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
  listeners: ResolvedListener[];
  clusters: Record<string, ResolvedCluster>;
  connectTimeout: number;
  retryInterval: number;
  drainTimeout: number;
  maxFallovers: number;
  idleTimeout: number;
  rateWindow: number;
  sandbox: { cpuTimeout: number; memoryLimit: number; maxFailures: number };
  watch: boolean;
  stateDir: string;
  /** `enabled: false` when the config says `admin: false` (host and port then unused). */
  admin: { enabled: boolean; host: string; port: number; token: string | undefined };
  plugins: PluginEntry[];
  log: { level: LogLevel; access: boolean };
  /** Processes in all, the primary included (1 = no workers). */
  workers: number;
  dataPath: 'auto' | 'fast' | 'net';
  /** The fleet this balancer is a member of, if any. */
  fleet: { redis: string; name: string; member: string } | undefined;
}

// ─── what algorithms and policies see ───────────────────────────────────────

/** Plain data about one candidate node, as handed to algorithms and policies. */
export interface NodeView {
  readonly id: string;
  readonly loadFactor: number;
  readonly activeConnections: number;
  readonly totalConnections: number;
  /** New connections per second (exponentially weighted). */
  readonly connectionRate: number;
  /** Bytes per second, both directions (exponentially weighted). */
  readonly bytesRate: number;
  readonly recentFailures: number;
  /** Milliseconds the last successful connect took. */
  readonly connectLatency: number;
  readonly state: NodeState;
  readonly metrics: Readonly<Record<string, number>>;
}

/** Plain data about the client a choice is made for. */
export interface ClientView {
  readonly address: string;
  readonly port: number;
  readonly listener: string;
}

/** One cluster's instance of an algorithm; it may keep state (a cursor) between picks. */
export interface Chooser {
  /** The id of the chosen node among `nodes` (never empty), or undefined to decline. */
  pick(nodes: readonly NodeView[], client: ClientView): string | undefined;
  /**
   * Optional: every candidate's id, best first, for algorithms whose choice is a ranking
   * (client-hash): the order fall-over follows, the same on twin balancers.
   */
  rank?(nodes: readonly NodeView[], client: ClientView): string[];
}

/**
 * A balancing algorithm: a pure module over plain data (no Node APIs, no I/O), so that it
 * can run inside a sandbox. `create` runs once per cluster that uses it.
 */
export interface AlgorithmDefinition<Options = Record<string, unknown>> {
  name: string;
  /**
   * True when `pick` depends only on the candidates' ids and load factors (not on the
   * client nor on live counters): the host may then ask for upcoming picks in batches,
   * used while the candidates stay the same, so the sandbox is crossed rarely.
   */
  batchable?: boolean;
  /**
   * True for a batchable algorithm whose picks, from a new instance over unchanged
   * candidates, repeat with a period of the sum of the load factors (a round robin). The
   * processes of a group then share one position in that cycle (a counter in shared
   * memory), and rotate as one balancer.
   */
  cyclic?: boolean;
  create(options: Options & AlgorithmBaseOptions): Chooser;
}

export interface AlgorithmBaseOptions {
  /** Name of the cluster this instance serves. */
  cluster: string;
  /** The text after `:` in `balance: 'name:argument'`, if any. */
  argument?: string;
  hashSecret?: string;
  /** For algorithms registered with `{ argument: 'module' }`: that module's default export. */
  policy?: PolicyDefinition;
}

/** A user's load-rating function: lower rating means less loaded. */
export interface PolicyDefinition {
  name: string;
  rate(node: NodeView, client: ClientView): number;
}

// ─── plugins ────────────────────────────────────────────────────────────────

export interface PluginMeta {
  /** Semver range of Proto Balance versions the plugin works with, e.g. `'^0.1'`. */
  protobalance?: string;
  /** Names of plugins that must be loaded before this one. */
  dependencies?: string[];
}

export interface Plugin {
  name: string;
  /** `'pre'` taps run before default taps, `'post'` after. */
  enforce?: 'pre' | 'post';
  meta?: PluginMeta;
  /**
   * Config fields the plugin adds to listeners, clusters and nodes: checked with the
   * config (errors name the field and the plugin), resolved onto the resolved listeners,
   * clusters and nodes it reads (`api.config.listeners[i]`, `cluster.config`).
   */
  fields?: FieldsSchema;
  apply(hooks: import('./hooks.ts').PluginHooks, api: import('./plugin-api.ts').PluginApi): void | Promise<void>;
}

export type PluginFactory<Options = any> = (options: Options) => Plugin;

/**
 * A plugin that declares its options: the host checks the config's options against
 * `options` (naming the plugin and the field when one is wrong), fills in defaults, and
 * hands them to `create`, typed from the schema.
 */
export interface PluginWithOptions<S extends OptionsSchema = OptionsSchema> {
  name: string;
  enforce?: Plugin['enforce'];
  meta?: Plugin['meta'];
  fields?: FieldsSchema;
  options: S;
  create(options: OptionsOf<S>): Omit<Plugin, 'name'> & { name?: string };
}
