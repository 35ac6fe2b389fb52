/**
 * The live cluster/node model. A `BalancerNode` carries a node's configuration and its
 * live state (state colour, availability, counters); it outlives config generations
 * so that counters and states survive a reload that keeps the node's cluster and id.
 */
import type { NodeChooser } from './algorithms.ts';
import type { NodeState, NodeView, ResolvedCluster, ResolvedNode } from './types.ts';

export class BalancerNode implements NodeView {
  /** `cluster/id`: the node's identity across generations. */
  readonly key: string;
  readonly id: string;
  readonly cluster: string;
  host: string;
  port: number | undefined;
  /**
   * The factor algorithms weigh: the config's, times `loadFactorScale`. A field (not a
   * getter) because every pick reads it.
   */
  loadFactor: number;
  /** The factor the config (or a runtime change) gives. */
  configuredLoadFactor: number;
  /** The product of the scales plugins set through `api.balancer.setLoadFactorScale` (slow start): 0 < scale ≤ 1. */
  loadFactorScale = 1;
  /** Each plugin's own scale, so that one plugin's setting never undoes another's. */
  private scales: Map<string, number> | undefined;
  fallover: string | undefined;
  connectTimeout: number;

  state: NodeState = 'green';
  /** False after a failed connect, until `retryAt` (epoch ms). */
  available = true;
  retryAt = 0;

  activeConnections = 0;
  totalConnections = 0;
  connectionRate = 0;
  bytesRate = 0;
  bytesIn = 0;
  bytesOut = 0;
  failures = 0;
  /** Connections that failed on this node and went on to another (its fall-over or the next choice). */
  fallovers = 0;
  recentFailures = 0;
  connectLatency = 0;
  metrics: Record<string, number> = {};
  /**
   * The same figures in the group's other processes (zero when alone), so that algorithms
   * weigh what every worker sends to the node; refreshed once a second.
   */
  peer = { active: 0, connectionRate: 0, bytesRate: 0 };

  constructor(cluster: string, config: ResolvedNode) {
    this.cluster = cluster;
    this.id = config.id;
    this.key = `${cluster}/${config.id}`;
    this.host = config.host;
    this.port = config.port;
    this.configuredLoadFactor = config.loadFactor;
    this.loadFactor = config.loadFactor;
    this.fallover = config.fallover;
    this.connectTimeout = config.connectTimeout;
  }

  /** Take a new generation's configuration, keeping live state. */
  reconfigure(config: ResolvedNode): void {
    this.host = config.host;
    this.port = config.port;
    this.configuredLoadFactor = config.loadFactor;
    this.loadFactor = config.loadFactor * this.loadFactorScale;
    this.fallover = config.fallover;
    this.connectTimeout = config.connectTimeout;
  }

  /**
   * Scale the configured factor on behalf of `owner` (a plugin's name); the algorithms see
   * the factor times every owner's scale from their next pick. 1 withdraws the owner's.
   */
  scaleLoadFactor(scale: number, owner: string): void {
    if (!(scale > 0 && scale <= 1)) throw new RangeError(`a load factor scale is a number in (0, 1], got ${scale}`);
    if (scale === 1) this.scales?.delete(owner);
    else (this.scales ??= new Map()).set(owner, scale);
    let product = 1;
    for (const s of this.scales?.values() ?? []) product *= s;
    this.loadFactorScale = product;
    this.loadFactor = this.configuredLoadFactor * product;
  }

  /** Address text for logs: `host:port`, `[v6]:port`, or the host alone. */
  get address(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return this.port === undefined ? host : `${host}:${this.port}`;
  }
}

export class Cluster {
  readonly name: string;
  readonly config: ResolvedCluster;
  readonly nodes: readonly BalancerNode[];
  readonly chooser: NodeChooser;
  private readonly byId: Map<string, BalancerNode>;

  constructor(config: ResolvedCluster, nodes: readonly BalancerNode[], chooser: NodeChooser) {
    this.name = config.name;
    this.config = config;
    this.nodes = nodes;
    this.chooser = chooser;
    this.byId = new Map(nodes.map((n) => [n.id, n]));
  }

  node(id: string): BalancerNode | undefined {
    return this.byId.get(id);
  }
}

/**
 * Holds every live node by key across generations, so that a reload reuses the node
 * objects (and their counters and open connections) of nodes it keeps.
 */
export class NodeRegistry {
  private readonly nodes = new Map<string, BalancerNode>();

  /** The node for `cluster/id`, made new or reconfigured from `config`. */
  take(cluster: string, config: ResolvedNode): BalancerNode {
    const key = `${cluster}/${config.id}`;
    const existing = this.nodes.get(key);
    if (existing) {
      existing.reconfigure(config);
      return existing;
    }
    const node = new BalancerNode(cluster, config);
    this.nodes.set(key, node);
    return node;
  }

  /** Keys of every node held. */
  keys(): IterableIterator<string> {
    return this.nodes.keys();
  }

  /** Forget nodes the current generation no longer has once they carry no connection. */
  prune(keep: ReadonlySet<string>): void {
    for (const [key, node] of this.nodes) {
      if (!keep.has(key) && node.activeConnections === 0) this.nodes.delete(key);
    }
  }
}

/** The node `cluster/id` among `clusters`, or undefined. */
export function findNode(clusters: ReadonlyMap<string, Cluster>, key: string): BalancerNode | undefined {
  const slash = key.indexOf('/');
  return slash < 0 ? undefined : clusters.get(key.slice(0, slash))?.node(key.slice(slash + 1));
}
