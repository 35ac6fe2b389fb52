/** What a plugin's `apply` receives beside the hooks. */
import type { BalancerNode, Cluster } from './cluster.ts';
import type { RegisterOptions } from './algorithms.ts';
import type { Logger } from './logger.ts';
import type { SharedMemory } from './shared-counters.ts';
import type { ResolvedConfig } from './types.ts';
import type { Peers } from './workers/peers.ts';

/** Read access to the running balancer's model, for plugins. */
export interface BalancerView {
  /** Clusters of the generation being built or serving. */
  clusters(): readonly Cluster[];
  cluster(name: string): Cluster | undefined;
  /** A node by `cluster/id`. */
  node(key: string): BalancerNode | undefined;
  /**
   * Weigh `node` at `scale` (0 < scale ≤ 1) of its configured load factor from the next
   * pick on, in this process (slow start ramps it up). Every algorithm sees it as the
   * node's `loadFactor`. Each plugin's scale is its own: the node is weighed at the product
   * of all of them, and 1 withdraws this plugin's. Kept across reloads that keep the node.
   */
  setLoadFactorScale(node: BalancerNode, scale: number): void;
}

export interface PluginApi {
  /** The running Proto Balance version. */
  readonly version: string;
  /** The config this generation is built from. */
  readonly config: ResolvedConfig;
  /** A logger bound to the plugin's name. */
  readonly logger: Logger;
  readonly balancer: BalancerView;
  /**
   * Offer a balancing algorithm under `name` (what a cluster's `balance` names). `module` is
   * the file of a pure algorithm module whose default export is an `AlgorithmDefinition`;
   * the core loads it into its algorithm runner, so it must not use Node APIs.
   */
  registerAlgorithm(name: string, module: string | URL, options?: RegisterOptions): void;
  /** The other processes of the group (workers): messages by topic. */
  readonly peers: Peers;
  /**
   * Memory every process of the group sees (int32 arrays, used with Atomics), for what
   * must be exact across processes: limits, counters. Per process when `shared` is false.
   */
  readonly shared: SharedMemory;
  /**
   * Which process of the group this is: `primary` (the one that opened the listeners and
   * takes changes; also the only one with `createBalancer`) or `worker`. A plugin that
   * owns something outside the balancer (a port, a file it writes) acts in the primary only.
   */
  readonly role: 'primary' | 'worker';
}
