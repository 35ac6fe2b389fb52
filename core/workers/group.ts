/**
 * Every CPU: the primary process opens the listeners and serves on them itself, then
 * forks `workers - 1` worker processes and hands each the listening sockets; every
 * process accepts on the same sockets (the kernel spreads the clients, as node:cluster's
 * SCHED_NONE does, without a process in the middle).
 *
 * Why the primary serves too: it accepts as soon as it has started, so start-up is one
 * process's, and the workers join within a few hundred ms.
 *
 * The primary is the one place changes come in (config reload, node states). It applies
 * a change to itself, then to every worker, and the change is done when every worker has
 * answered. A worker that dies is replaced; the listeners and the other processes'
 * connections are untouched. Once a second every process's load per node is summed and
 * each process hears the others' share, for the rate-based algorithms.
 */
import { createSharedCounters, localCounters, type SharedCounters } from '../shared-counters.ts';
import type { ChildProcess } from 'node:child_process';
import { Balancer, type BalancerOptions } from '../balancer.ts';
import { describeError } from '../errors.ts';
import { lazyBuiltin } from '../lazy-builtin.ts';
import type { Generation } from '../generation.ts';
import type { ListeningAddress } from '../hooks.ts';
import type { Logger } from '../logger.ts';
import type { RuntimeChanges } from '../runtime-changes.ts';
import type { ChangeBase } from '../runtime-ops.ts';
import { sumSnapshots, type NodeStatus, type Snapshot } from '../status.ts';
import type { Config, NodeState, ResolvedConfig } from '../types.ts';
import { PeerBus } from './peers.ts';
import { Requests, type FromWorker, type Request, type PeerLoad, type ProcessResources, type ToWorker } from './protocol.ts';
import { processResources } from './resources.ts';

// node:child_process is loaded when the first worker is forked, after the primary listens.
const childProcess = lazyBuiltin<typeof import('node:child_process')>('node:child_process');

const ANSWER_MS = 10_000;
/**
 * How long a worker may take to apply a reload or runtime change the primary applied.
 * Past ANSWER_MS it is slow, and said so; past this, or when it fails, it is restarted on
 * the new config: every process serves the new generation, or is no longer serving.
 */
const APPLY_MAX_MS = 120_000;
const READY_MS = 30_000;
const LOAD_EVERY_MS = 1_000;
const RESPAWN_MIN_MS = 250;
const RESPAWN_MAX_MS = 10_000;

export interface GroupOptions {
  config: ResolvedConfig;
  logger: Logger;
  /**
   * The worker program: it must run `runWorker` with the same built-in plugins as
   * `balancer.builtins` (`workerEntry` of `protobalance/builtins` does).
   */
  workerEntry: string;
  /** Node flags for workers (isolated-vm needs --no-node-snapshot). */
  execArgv?: string[];
  balancer?: Omit<BalancerOptions, 'logger' | 'source' | 'adopt' | 'peers'>;
  /** When a worker applying a change is slow (said so), and when it is restarted instead (ms). */
  applyTimes?: { slowMs: number; maxMs: number };
}

/** Who made a change: this balancer's operator, or another balancer of its fleet. */
export type ChangeOrigin = 'local' | 'fleet';

interface Worker {
  index: number;
  child: ChildProcess;
  requests: Requests;
  ready: boolean;
  load: PeerLoad;
  startedAt: number;
  /** Keys of the listening sockets handed to it. */
  listenKeys: Set<string>;
  /** The group's change count when it was forked: a change since, and it must catch up. */
  changesAtSpawn: number;
}

export class ProcessGroup {
  readonly balancer: Balancer;
  private readonly options: GroupOptions;
  private readonly logger: Logger;
  private readonly workers = new Map<number, Worker>();
  private readonly peers: PeerBus;
  /** Round robin's position, one for the whole group (core/shared-counters.ts). */
  private readonly counters: SharedCounters;
  private stopping = false;
  private loadTimer: NodeJS.Timeout | undefined;
  private readonly respawnDelay = new Map<number, number>();
  /** Reloads and runtime changes, one at a time through every process. */
  private queue: Promise<unknown> = Promise.resolve();
  private changeCount = 0;
  private readonly changeListeners: ((origin: ChangeOrigin) => void)[] = [];

  constructor(options: GroupOptions) {
    this.options = options;
    this.logger = options.logger;
    this.peers = new PeerBus((topic, msg) => this.broadcast({ t: 'peer', topic, msg }), options.config.workers > 1);
    this.counters = options.config.workers > 1 ? sharedCountersFor(options.config.stateDir, options.config.workers, options.logger) : localCounters();
    this.balancer = new Balancer(options.config, {
      ...options.balancer,
      logger: options.logger,
      source: options.config.source,
      peers: this.peers,
      counters: this.counters,
    });
  }

  /** Processes in the group, the primary included. */
  get size(): number {
    return 1 + this.workers.size;
  }

  /** Processes serving now: the primary and every worker that started. */
  get serving(): number {
    let ready = 0;
    for (const w of this.workers.values()) if (w.ready) ready++;
    return 1 + ready;
  }

  get generation(): Generation {
    return this.balancer.generation;
  }

  /** Start serving here; the workers are forked after, and `workersReady` says when they serve. */
  async start(): Promise<ListeningAddress[]> {
    const addresses = await this.balancer.start();
    // Forked on the next turn: the caller reports "accepting" first, and loading
    // child_process and forking cost the first connections nothing.
    const extra = this.options.config.workers - 1;
    this.workersReady = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => Promise.all(Array.from({ length: extra }, (_, i) => (this.stopping ? undefined : this.spawn(i + 1)))))
      .then(() => undefined);
    this.loadTimer = setInterval(() => this.shareLoad(), LOAD_EVERY_MS);
    this.loadTimer.unref();
    return addresses;
  }

  /** Resolves when every worker forked at start serves (or failed to, which is logged). */
  workersReady: Promise<void> = Promise.resolve();

  /**
   * Set a node's state in every process; resolves when all have it. `origin` says who
   * asked (`'fleet'`: another balancer of the fleet), for the change listeners.
   */
  async setNodeState(key: string, state: NodeState, origin: ChangeOrigin = 'local'): Promise<void> {
    this.balancer.setNodeState(key, state);
    await this.askAll({ op: 'setNodeState', key, state });
    this.changed(origin);
  }

  /** Told after a node state or runtime change is in every process (not after reloads). */
  onChange(listener: (origin: ChangeOrigin) => void): void {
    this.changeListeners.push(listener);
  }

  private changed(origin: ChangeOrigin): void {
    for (const l of this.changeListeners) {
      try {
        l(origin);
      } catch (err) {
        this.logger.error({ err: describeError(err) }, 'a change listener failed');
      }
    }
  }

  /**
   * Reload: the primary first (a bad config stops here and changes nothing), then every
   * worker from the file, with the primary's runtime changes. Listeners the file adds are
   * opened by the primary and handed to the workers before they reload.
   */
  reload(raw: Config): Promise<void> {
    return this.serially(async () => {
      await this.balancer.reload(raw);
      await this.everyWorker('reload');
    });
  }

  /**
   * A runtime change in every process: `make` (an operation of core/runtime-ops.ts) gets
   * the config as served once every change before it is done, and says the new changes.
   * Its errors (ChangeError) are thrown and change nothing.
   */
  change(make: (base: ChangeBase) => RuntimeChanges, origin: ChangeOrigin = 'local'): Promise<void> {
    return this.serially(async () => {
      await this.balancer.applyChanges(make(this.balancer.changeBase()));
      await this.everyWorker('changes');
      this.changed(origin);
    });
  }

  private serially(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Hand over new listening sockets, then have every ready worker take the primary's
   * config (the primary has it already, so the change is made): a slow worker is waited
   * for and said to be slow, and one that fails or takes too long is restarted on it.
   */
  private async everyWorker(op: 'reload' | 'changes'): Promise<void> {
    this.changeCount++;
    const changes = this.balancer.runtimeChanges();
    const generation = this.balancer.generation.id;
    const ready = [...this.workers.values()].filter((w) => w.ready);
    for (const w of ready) this.handOver(w);
    const req = op === 'reload' ? { op: 'reload' as const, changes, generation } : { op: 'changes' as const, changes, generation };
    await Promise.all(ready.map((w) => this.applyIn(w, req)));
  }

  private async applyIn(w: Worker, req: Extract<Request, { op: 'reload' | 'changes' }>): Promise<void> {
    const what = `worker ${w.index} (pid ${w.child.pid})`;
    const slow = setTimeout(
      () => this.logger.warn({ worker: w.index, op: req.op, generation: req.generation, afterMs: this.options.applyTimes?.slowMs ?? ANSWER_MS }, 'a worker is still applying the change: slow, not failed'),
      this.options.applyTimes?.slowMs ?? ANSWER_MS,
    );
    try {
      await w.requests.ask(req, this.options.applyTimes?.maxMs ?? APPLY_MAX_MS, what);
    } catch (err) {
      if (!w.child.connected || this.stopping) return;
      this.logger.error({ worker: w.index, generation: req.generation, err: describeError(err) }, 'a worker could not take the new config; restarting it on it');
      const exited = exitOf(w.child);
      w.child.kill('SIGKILL');
      await exited;
    } finally {
      clearTimeout(slow);
    }
  }

  /** Send `w` the listening sockets it has not had yet. */
  private handOver(w: Worker): void {
    const shared = this.balancer.sharedListeners();
    for (const s of shared) {
      if (w.listenKeys.has(s.key) || !w.child.connected) continue;
      w.child.send({ t: 'listen', listener: s.listener, key: s.key } satisfies ToWorker, s.handle as never);
      w.listenKeys.add(s.key);
    }
    const now = new Set(shared.map((s) => s.key));
    for (const k of w.listenKeys) if (!now.has(k)) w.listenKeys.delete(k);
  }

  /** Every node's figures, summed over the processes. */
  async status(): Promise<NodeStatus[]> {
    return (await this.snapshot()).nodes;
  }

  /** Nodes and listener counts, summed over the processes. */
  async snapshot(): Promise<Snapshot> {
    return sumSnapshots(await this.snapshotByProcess());
  }

  /** Every node's figures in each process, the primary first. */
  async statusByProcess(): Promise<NodeStatus[][]> {
    return (await this.snapshotByProcess()).map((s) => s.nodes);
  }

  /** Nodes and listener counts in each process, the primary first. */
  async snapshotByProcess(): Promise<Snapshot[]> {
    return [{ ...this.balancer.snapshot(), generation: this.balancer.generation.id }, ...((await this.askAll({ op: 'snapshot' })) as Snapshot[])];
  }

  /** Memory and open files of each process, the primary first (after a full GC in each with `gc`). */
  async resources(options: { gc?: boolean } = {}): Promise<ProcessResources[]> {
    const gc = options.gc === true;
    return [processResources(gc), ...((await this.askAll({ op: 'resources', gc })) as ProcessResources[])];
  }

  /** Pids of the workers serving now. */
  workerPids(): number[] {
    return [...this.workers.values()].flatMap((w) => (w.child.pid === undefined ? [] : [w.child.pid]));
  }

  /**
   * Every process closes the listeners: the sockets, shared by all, refuse new clients
   * once the last process has closed them. Open connections go on.
   */
  async stopAccepting(): Promise<void> {
    this.stopping = true;
    // A worker still starting holds the sockets but no connection yet: it goes at once
    // (the sockets stay open until its process is gone).
    const starting = [...this.workers.values()].filter((w) => !w.ready);
    for (const w of starting) w.child.kill('SIGKILL');
    await Promise.all(starting.map((w) => exitOf(w.child)));
    await this.balancer.stopAccepting();
    await this.askAll({ op: 'stopAccepting' }).catch((err: unknown) => {
      this.logger.warn({ err: describeError(err) }, 'a worker did not stop accepting; it is stopped with the rest');
    });
  }

  async stop(drainTimeout?: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.loadTimer);
    const drain = drainTimeout ?? this.options.config.drainTimeout;
    const exits = [...this.workers.values()].map((w) => this.stopWorker(w, drain));
    await Promise.all([this.balancer.stop(drainTimeout), ...exits]);
    this.counters.close();
  }

  private async stopWorker(w: Worker, drain: number): Promise<void> {
    const exited = exitOf(w.child);
    try {
      await w.requests.ask({ op: 'stop', drainTimeout: drain }, drain + ANSWER_MS, `worker ${w.index}`);
    } catch (err) {
      this.logger.warn({ worker: w.index, err: describeError(err) }, 'worker did not stop cleanly; killing it');
      w.child.kill('SIGKILL');
    }
    await exited;
  }

  private async askAll(req: Parameters<Requests['ask']>[0]): Promise<unknown[]> {
    const ready = [...this.workers.values()].filter((w) => w.ready);
    return Promise.all(ready.map((w) => w.requests.ask(req, ANSWER_MS, `worker ${w.index} (pid ${w.child.pid})`)));
  }

  private broadcast(msg: ToWorker, except?: Worker): void {
    for (const w of this.workers.values()) {
      if (w === except || !w.ready || !w.child.connected) continue;
      w.child.send(msg);
    }
  }

  /** Each process hears the sum of the others' load per node. */
  private shareLoad(): void {
    if (this.workers.size === 0) return;
    const own = this.balancer.localLoad();
    const all = [own, ...[...this.workers.values()].map((w) => w.load)];
    const total: PeerLoad = {};
    for (const load of all) {
      for (const [key, [a, c, b]] of Object.entries(load)) {
        const t = (total[key] ??= [0, 0, 0]);
        t[0] += a;
        t[1] += c;
        t[2] += b;
      }
    }
    const minus = (load: PeerLoad): PeerLoad => {
      const out: PeerLoad = {};
      for (const [key, [a, c, b]] of Object.entries(total)) {
        const mine = load[key] ?? [0, 0, 0];
        out[key] = [a - mine[0], c - mine[1], b - mine[2]];
      }
      return out;
    };
    this.balancer.applyPeerLoad(minus(own));
    for (const w of this.workers.values()) if (w.ready && w.child.connected) w.child.send({ t: 'peerLoad', nodes: minus(w.load) });
  }

  private spawn(index: number): Promise<void> {
    const entry = this.options.workerEntry;
    let child: ChildProcess;
    try {
      child = childProcess().fork(entry, [], {
        execArgv: this.options.execArgv ?? ['--no-node-snapshot'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
    } catch (err) {
      this.respawnLater(index, { err: describeError(err) }, 'cannot fork a worker');
      return Promise.resolve();
    }
    if (child.pid === undefined) {
      // The fork failed (EMFILE, ENFILE, EAGAIN…): Node says so with an 'error' event and
      // never an 'exit', and the child has no IPC channel (no `send`). A failed start,
      // retried with the backoff until a worker is back.
      return new Promise((resolve) => {
        child.once('error', (err) => {
          this.respawnLater(index, { err: describeError(err) }, 'cannot fork a worker');
          resolve();
        });
      });
    }
    const w: Worker = {
      index,
      child,
      requests: new Requests((msg) => child.send(msg)),
      ready: false,
      load: {},
      startedAt: Date.now(),
      listenKeys: new Set(),
      changesAtSpawn: this.changeCount,
    };
    this.workers.set(index, w);
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.logger.error({ worker: index }, `worker did not start within ${READY_MS} ms`);
        child.kill('SIGKILL');
        resolve();
      }, READY_MS);
      child.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') {
          clearTimeout(timer);
          w.ready = true;
          this.respawnDelay.delete(index);
          if (w.changesAtSpawn !== this.changeCount) this.catchUp(w);
          this.logger.debug({ worker: index, pid: child.pid }, 'worker serving');
          resolve();
        } else if (msg.t === 'failed') {
          clearTimeout(timer);
          this.logger.error({ worker: index, err: msg.error }, 'worker failed to start');
          resolve();
        } else this.onMessage(w, msg);
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    child.on('error', (err) => this.logger.error({ worker: index, err: describeError(err) }, 'worker process error'));
    child.once('exit', (code, signal) => this.onExit(w, code, signal));
    const shared = this.balancer.sharedListeners();
    try {
      for (const s of shared) {
        child.send({ t: 'listen', listener: s.listener, key: s.key } satisfies ToWorker, s.handle as never);
        w.listenKeys.add(s.key);
      }
      const source = this.options.config.source ?? '';
      const changes = this.balancer.runtimeChanges();
      child.send({ t: 'init', configPath: source, listeners: shared.length, index, changes, generation: this.balancer.generation.id, counters: this.counters.key } satisfies ToWorker);
    } catch (err) {
      this.logger.error({ worker: index, err: describeError(err) }, 'cannot hand the listeners to a worker');
      child.kill('SIGKILL');
    }
    return ready;
  }

  /** A worker that started while the config changed takes the primary's config now. */
  private catchUp(w: Worker): void {
    void this.serially(async () => {
      this.handOver(w);
      await w.requests.ask({ op: 'reload', changes: this.balancer.runtimeChanges(), generation: this.balancer.generation.id }, APPLY_MAX_MS, `worker ${w.index}`);
    }).catch((err: unknown) => this.logger.error({ worker: w.index, err: describeError(err) }, 'a new worker could not take the current config'));
  }

  private onMessage(w: Worker, msg: FromWorker): void {
    switch (msg.t) {
      case 'res':
        return w.requests.answer(msg);
      case 'load':
        w.load = msg.nodes;
        return;
      case 'peer':
        this.peers.deliver(msg.topic, msg.msg, (err) => this.logger.error({ topic: msg.topic, err: describeError(err) }, 'a peer message handler failed'));
        this.broadcast(msg, w);
        return;
    }
  }

  private onExit(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    w.requests.failAll(`worker ${w.index} exited`);
    if (this.workers.get(w.index) === w) this.workers.delete(w.index);
    if (this.stopping) return;
    this.respawnLater(w.index, { pid: w.child.pid, code, signal }, 'worker exited; starting a new one');
  }

  /** Fork worker `index` again after the backoff: 250 ms, doubling up to 10 s, until one starts. */
  private respawnLater(index: number, details: Record<string, unknown>, message: string): void {
    if (this.stopping) return;
    const delay = Math.min(RESPAWN_MAX_MS, Math.max(RESPAWN_MIN_MS, (this.respawnDelay.get(index) ?? 0) * 2));
    this.respawnDelay.set(index, delay);
    this.logger.error({ worker: index, ...details, respawnInMs: delay }, message);
    setTimeout(() => {
      if (!this.stopping) void this.spawn(index);
    }, delay).unref();
  }
}

/** The group's shared counters; per process, and said once, when shared memory cannot be had. */
function sharedCountersFor(stateDir: string, workers: number, logger: Logger): SharedCounters {
  const { counters, why } = createSharedCounters(stateDir, workers);
  if (why) logger.warn({ why }, 'round robin rotates in each process on its own, and plugins\' shared arrays are per process (no memory shared between processes)');
  return counters;
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}
