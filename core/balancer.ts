/**
 * The balancer: owns the listeners, the serving generation, the live node registry and
 * the open connections. `createBalancer(config)` is the programmatic entry point.
 */
import { stopEsbuild } from './esbuild-lazy.ts';
import type { AlgorithmRunner } from './algorithm-runner.ts';
import { createSandboxRunner } from './sandbox.ts';
import type { BalancerNode, Cluster } from './cluster.ts';
import { findNode, NodeRegistry } from './cluster.ts';
import { validateConfig } from './config-validate.ts';
import { describeError, ErrorCodes, inConfigFile, pbError } from './errors.ts';
import { chooseDataPath, type DataPath, type Endpoint } from './datapath/index.ts';
import { Connection, type ConnectionTracker } from './forward.ts';
import { buildGeneration, type Generation } from './generation.ts';
import type { ListeningAddress } from './hooks.ts';
import { IdleSweeper } from './idle.ts';
import { ListenerSet, type ListenerChange, type SharedListen } from './listener.ts';
import { createLogger, type Logger } from './logger.ts';
import { RateSampler } from './stats.ts';
import { addRefusals, nodeStatuses, type ListenerStatus, type NodeStatus, type Snapshot } from './status.ts';
import type { RuntimeChanges } from './runtime-changes.ts';
import type { ChangeBase } from './runtime-ops.ts';
import { ServedConfig } from './served-config.ts';
import { PeerBus } from './workers/peers.ts';
import type { PeerLoad } from './workers/protocol.ts';
import { loadNodeStates, saveNodeStates } from './node-states.ts';
import { releaseInstances } from './algorithm-instances.ts';
import { localCounters, type SharedCounters } from './shared-counters.ts';
import type { Config, NodeState, PluginEntry, ResolvedConfig } from './types.ts';

/** How long killed connections get to end at shutdown. */
const KILL_GRACE_MS = 2_000;

export interface BalancerOptions {
  /** Where log lines go; a pino logger on stderr at `config.log.level` by default. */
  logger?: Logger;
  /** The config file `config` came from: relative paths are resolved against its folder. */
  source?: string;
  /**
   * Plugins loaded before the config's own. The core names no plugin: the built-in set
   * comes from whoever builds the balancer (`builtinPlugins()` of `protobalance/builtins`).
   */
  builtins?: readonly PluginEntry[];
  /**
   * Makes the runner that executes algorithm modules, one per generation: isolates within
   * `config.sandbox` limits by default (`createInProcessRunner` runs them unguarded).
   */
  createRunner?: (config: ResolvedConfig) => AlgorithmRunner;
  /**
   * Accept on these listening sockets (opened by a primary process) instead of opening
   * the config's listeners: how worker processes serve.
   */
  adopt?: readonly SharedListen[];
  /** The group's channel between processes (alone by default). */
  peers?: PeerBus;
  /** Save node states and runtime changes in the state directory (the primary does; its workers do not). */
  persistStates?: boolean;
  /**
   * Counters shared with the other processes of the group (core/shared-counters.ts): the
   * position of cyclic algorithms such as round robin. Per process by default.
   */
  counters?: SharedCounters;
  /**
   * The runtime changes in force (core/runtime-changes.ts): a worker gets its primary's.
   * By default they are read from the state directory at start.
   */
  runtimeChanges?: RuntimeChanges;
}

/** Live figures of one open connection. */
export interface ConnectionInfo {
  id: number;
  client: string;
  node: string | undefined;
  /** Bytes sitting in the balancer's own buffers for it, both directions. */
  bufferedBytes: number;
}

export class Balancer {
  readonly logger: Logger;
  private readonly source: string | undefined;
  private readonly builtins: readonly PluginEntry[];
  private readonly createRunner: (config: ResolvedConfig) => AlgorithmRunner;
  private readonly counters: SharedCounters;
  /** The runner new generations are built on, and the limits it was made for. */
  private runner: { key: string; runner: AlgorithmRunner } | undefined;
  private readonly nodes = new NodeRegistry();
  private readonly listeners: ListenerSet;
  private readonly open = new Set<Connection>();
  private readonly tracker: ConnectionTracker = {
    add: (c) => this.open.add(c),
    delete: (c) => this.open.delete(c),
    refused: (listener, code) => this.countRefusal(listener, code),
  };
  private gen: Generation | undefined;
  /** The generation being swapped in while its new listeners open: they route by it. */
  private incoming: Generation | undefined;
  /** The file's config and the runtime changes; `config` is what they make together. */
  private readonly served: ServedConfig;

  /** The config being served. */
  private get config(): ResolvedConfig {
    return this.served.config;
  }
  /** Sockets the primary handed over for listeners a coming change adds (workers). */
  private offered: SharedListen[] = [];
  private readonly listenerCounts = new Map<string, ListenerStatus>();
  /** Reloads and runtime changes run one at a time, each on the result of the last. */
  private changeQueue: Promise<unknown> = Promise.resolve();
  private generations = 0;
  private stopping: Promise<void> | undefined;
  private readonly rates: RateSampler;
  private readonly idle: IdleSweeper;
  private readonly adopt: readonly SharedListen[] | undefined;
  readonly dataPath: DataPath;
  readonly peers: PeerBus;
  private readonly persistStates: boolean;
  /** Operator-set node states by `cluster/id`, as saved in the state directory. */
  private savedStates = new Map<string, NodeState>();

  constructor(config: ResolvedConfig, options: BalancerOptions = {}) {
    this.source = options.source;
    this.logger = options.logger ?? createLogger(config.log.level);
    this.builtins = options.builtins ?? [];
    this.counters = options.counters ?? localCounters();
    this.createRunner = options.createRunner ?? ((c) => createSandboxRunner({ ...c.sandbox, baseDir: c.baseDir, counters: this.counters }));
    this.adopt = options.adopt;
    this.peers = options.peers ?? new PeerBus(undefined);
    this.persistStates = options.persistStates ?? true;
    this.served = new ServedConfig(config, options.runtimeChanges, { persist: this.persistStates, logger: this.logger });
    const chosen = chooseDataPath(config.dataPath);
    this.dataPath = chosen.path;
    if (chosen.why) this.logger.info({ why: chosen.why }, 'using the net data path');
    this.listeners = new ListenerSet(this.logger, this.dataPath);
    this.idle = new IdleSweeper(() => this.open, () => this.config.idleTimeout);
    this.rates = new RateSampler({
      window: () => this.config.rateWindow,
      nodes: () => [...(this.gen?.clusters.values() ?? [])].flatMap((c) => c.nodes),
      connections: () => this.open,
    });
  }

  /** Build the first generation and open every listener. */
  async start(): Promise<ListeningAddress[]> {
    if (this.gen) throw pbError(ErrorCodes.NOT_RUNNING, 'the balancer is already started');
    this.savedStates = loadNodeStates(this.config.stateDir, this.logger, { setAside: this.persistStates });
    this.served.start();
    this.gen = await this.build(this.config);
    try {
      if (this.adopt) this.listeners.adopt(this.adopt, this.onConnection);
      else await this.listeners.open(this.config.listeners, this.onConnection);
    } catch (err) {
      await this.shutdownGeneration(this.gen);
      this.gen = undefined;
      throw inConfigFile(err, this.config.source);
    }
    const addresses = this.listeners.addresses();
    this.rates.start();
    this.idle.update();
    this.gen.hooks.listening.call(addresses);
    return addresses;
  }

  /** Build (and discard) a generation without listening: loads every plugin and algorithm. */
  async validate(): Promise<void> {
    await this.shutdownGeneration(await this.build(this.config));
  }

  /** The serving generation. */
  get generation(): Generation {
    if (!this.gen) throw pbError(ErrorCodes.NOT_RUNNING, 'the balancer is not started');
    return this.gen;
  }

  addresses(): ListeningAddress[] {
    return this.listeners.addresses();
  }

  clusters(): Cluster[] {
    return [...this.generation.clusters.values()];
  }

  /** A node by `cluster/id`. */
  node(key: string): BalancerNode | undefined {
    return findNode(this.generation.clusters, key);
  }

  connections(): ConnectionInfo[] {
    return [...this.open].map((c) => ({
      id: c.ctx.id,
      client: `${c.ctx.client.address}:${c.ctx.client.port}`,
      node: c.ctx.node?.key,
      bufferedBytes: c.bufferedBytes,
    }));
  }

  /** Operator-set states other than green, by `cluster/id`. */
  nodeStates(): Record<string, NodeState> {
    return Object.fromEntries([...this.savedStates].filter(([, s]) => s !== 'green'));
  }

  /**
   * Set a node's state for the next connection. Red closes the node's open connections
   * at once; yellow and green leave them alone. The state is saved in the state directory
   * and restored at the next start (and for a node that a reload brings back).
   */
  setNodeState(key: string, state: NodeState): void {
    const node = this.node(key);
    if (!node) throw pbError(ErrorCodes.NODE_UNKNOWN, `no node ${key} (expected "cluster/id")`);
    const previous = node.state;
    if (previous === state) return;
    node.state = state;
    this.savedStates.set(key, state);
    if (this.persistStates) {
      try {
        saveNodeStates(this.config.stateDir, this.savedStates);
      } catch (err) {
        this.logger.error({ node: key, err: describeError(err) }, 'cannot save node states; the change holds until restart');
      }
    }
    this.generation.hooks.nodeStateChanged.call(node, state, previous);
    if (state === 'red') {
      for (const conn of this.open) if (conn.ctx.node === node) conn.kill(`node ${key} set to red`);
    }
  }

  /**
   * Build a generation from the file's `raw` config (with the runtime changes in force,
   * `changes` when given) beside the serving one and swap it in. Listeners the config adds
   * open, removed ones stop accepting (their connections go on). A failure leaves the
   * serving generation and listeners untouched and is thrown. Open connections keep theirs.
   */
  reload(raw: Config, changes?: RuntimeChanges): Promise<void> {
    return this.serially(() => this.swap(validateConfig(raw, this.source, { plugins: 'later' }), changes ?? this.served.runtimeChanges, false));
  }

  /**
   * Serve with `changes` as the runtime changes (from `core/runtime-ops.ts`), on the
   * file's config as last loaded. A change that does not apply cleanly is refused whole.
   */
  applyChanges(changes: RuntimeChanges): Promise<void> {
    return this.serially(() => this.swap(this.served.fileConfig, changes, true));
  }

  /** What the runtime operations work from: the file's config, the served one, the changes. */
  changeBase(): ChangeBase {
    return this.served.base();
  }

  /** Run `fn` after every reload and change before it (whatever their outcome). */
  serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.changeQueue.then(fn, fn);
    this.changeQueue = run.catch(() => undefined);
    return run;
  }

  private async swap(file: ResolvedConfig, changes: RuntimeChanges, strict: boolean): Promise<void> {
    const previous = this.generation;
    const applied = this.served.prepare(file, changes, strict);
    const config = applied.config;
    const next = await this.build(config);
    let change: ListenerChange | undefined;
    if (!this.adopt) {
      this.incoming = next;
      try {
        change = await this.listeners.change(config.listeners, this.onConnection);
      } catch (err) {
        this.incoming = undefined;
        await this.shutdownGeneration(next);
        throw inConfigFile(err, config.source);
      }
    }
    this.gen = next;
    this.incoming = undefined;
    this.served.commit(file, applied);
    let moved: { opened: number; closed: number };
    if (change) moved = { opened: change.opened, closed: change.closeRemoved() };
    else {
      moved = this.listeners.adoptChange(config.listeners, this.offered, this.onConnection);
      this.offered = [];
    }
    if (moved.opened > 0 || moved.closed > 0) {
      this.logger.info({ opened: moved.opened, closed: moved.closed, listening: this.listeners.addresses() }, 'listeners changed');
      next.hooks.listening.call(this.listeners.addresses());
    }
    this.idle.update();
    this.nodes.prune(new Set([...next.clusters.values()].flatMap((c) => c.nodes.map((n) => n.key))));
    next.hooks.configChanged.call(config, previous.config);
    await this.shutdownGeneration(previous);
  }

  /** The runtime changes in force. */
  runtimeChanges(): RuntimeChanges {
    return this.served.runtimeChanges;
  }

  /**
   * Sockets for listeners a coming change adds (a worker gets them from its primary just
   * before the change): adopted by the change that names their listener.
   */
  offerListeners(shared: readonly SharedListen[]): void {
    this.offered.push(...shared);
  }

  /**
   * Stop accepting, let open connections finish for up to `drainTimeout` ms (the config's
   * `drainTimeout` by default), close what is left, then run the shutdown hooks.
   */
  stop(drainTimeout = this.config.drainTimeout): Promise<void> {
    this.stopping ??= this.drainAndStop(drainTimeout);
    return this.stopping;
  }

  /** Close the listeners (new clients are refused); open connections go on. */
  async stopAccepting(): Promise<void> {
    await this.listeners.close();
  }

  private async drainAndStop(drainTimeout: number): Promise<void> {
    await this.listeners.close();
    if (this.open.size > 0) {
      this.logger.info({ open: this.open.size, drainTimeout }, 'draining open connections');
      const deadline = Date.now() + drainTimeout;
      while (this.open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const conn of this.open) conn.kill('balancer shutting down');
      // A killed connection ends within a few event-loop turns; one that does not is a bug,
      // logged, and must not keep the process from stopping.
      const killedBy = Date.now() + KILL_GRACE_MS;
      while (this.open.size > 0 && Date.now() < killedBy) await new Promise((r) => setTimeout(r, 10));
      if (this.open.size > 0) {
        this.logger.error({ left: this.connections() }, 'connections did not end when closed; stopping without them');
        this.open.clear();
      }
    }
    this.rates.stop();
    this.idle.stop();
    if (this.gen) await this.shutdownGeneration(this.gen);
  }

  /** Generation ids count the builds that succeeded, so the serving one is never a gap. */
  private async build(config: ResolvedConfig): Promise<Generation> {
    const known = new Set([...this.nodes.keys()]);
    const gen = await buildGeneration({
      id: this.generations + 1,
      config,
      builtins: this.builtins,
      nodes: this.nodes,
      logger: this.logger,
      runner: this.runnerFor(config),
      peers: this.peers,
      role: this.adopt ? 'worker' : 'primary',
      shared: this.counters,
      previous: this.gen?.instances,
    }).finally(() => {
      // esbuild (config and algorithm bundling) keeps a helper process; a balancer that only
      // builds on start and reload should not carry it between builds. It restarts on demand.
      void stopEsbuild();
    });
    this.generations = gen.id;
    for (const cluster of gen.clusters.values()) {
      for (const node of cluster.nodes) {
        const saved = this.savedStates.get(node.key);
        if (saved && !known.has(node.key)) node.state = saved;
      }
    }
    return gen;
  }

  /**
   * The runner of the generation to build: the same one while the sandbox limits and the
   * config's folder stay, so that instances of unchanged clusters carry over.
   */
  private runnerFor(config: ResolvedConfig): AlgorithmRunner {
    const key = JSON.stringify([config.sandbox, config.baseDir]);
    if (this.runner?.key !== key) this.runner = { key, runner: this.createRunner(config) };
    return this.runner.runner;
  }

  private async shutdownGeneration(gen: Generation): Promise<void> {
    try {
      await gen.hooks.shutdown.promise();
    } catch (err) {
      this.logger.error({ generation: gen.id, err: describeError(err) }, 'a shutdown hook failed');
    }
    releaseInstances(gen.instances.values());
    // A runner no generation can be built on any more (the limits changed) goes whole.
    if (gen.runner !== this.runner?.runner && gen.runner !== this.gen?.runner) gen.runner.dispose();
  }

  /** Every node's live figures in this process. */
  status(): NodeStatus[] {
    return this.gen ? nodeStatuses(this.gen.clusters.values()) : [];
  }

  /** Nodes and listeners, as this process counts them. */
  snapshot(): Snapshot {
    const names = new Set([...this.config.listeners.map((l) => l.name), ...this.listenerCounts.keys()]);
    return { nodes: this.status(), listeners: [...names].map((n) => this.countsOf(n)).map((c) => ({ ...c, refusedBy: { ...c.refusedBy } })) };
  }

  private countsOf(listener: string): ListenerStatus {
    let c = this.listenerCounts.get(listener);
    if (!c) this.listenerCounts.set(listener, (c = { listener, accepted: 0, refused: 0, refusedBy: {} }));
    return c;
  }

  /** A client turned away without a node, by code (codes are checked words: see core/forward-context.ts). */
  private countRefusal(listener: string, code: string): void {
    const c = this.countsOf(listener);
    c.refused++;
    addRefusals(c.refusedBy, { [code]: 1 });
  }

  /** This process's share of each node's load, for the other processes of the group. */
  localLoad(): PeerLoad {
    const out: PeerLoad = {};
    for (const c of this.gen?.clusters.values() ?? []) {
      for (const n of c.nodes) out[n.key] = [n.activeConnections, n.connectionRate, n.bytesRate];
    }
    return out;
  }

  /** The other processes' load, summed, as the primary computed it. */
  applyPeerLoad(load: PeerLoad): void {
    for (const c of this.gen?.clusters.values() ?? []) {
      for (const n of c.nodes) {
        const p = load[n.key];
        n.peer.active = p?.[0] ?? 0;
        n.peer.connectionRate = p?.[1] ?? 0;
        n.peer.bytesRate = p?.[2] ?? 0;
      }
    }
  }

  /** The listening sockets, for worker processes to adopt. */
  sharedListeners(): SharedListen[] {
    return this.listeners.shared();
  }

  private onConnection = (client: Endpoint, listener: string): void => {
    const gen = this.incoming?.routes.has(listener) && !this.gen?.routes.has(listener) ? this.incoming : this.gen;
    const cluster = gen && gen.clusters.get(gen.routes.get(listener) ?? '');
    const counts = this.countsOf(listener);
    counts.accepted++;
    if (!gen || !cluster || this.stopping) {
      this.countRefusal(listener, this.stopping ? 'stopping' : 'no-route');
      client.destroy();
      return;
    }
    new Connection(client, gen, cluster, listener, this.logger, this.tracker, this.dataPath).start();
  };
}

/** A balancer for `config` (validated here), not yet started: call `start()`. */
export function createBalancer(config: Config, options: BalancerOptions = {}): Balancer {
  return new Balancer(validateConfig(config, options.source, { plugins: 'later' }), options);
}
