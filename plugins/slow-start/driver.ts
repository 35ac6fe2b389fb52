/**
 * One generation's slow-start driver: notices nodes that came back or were added, and
 * steps their load factor scale along the ramp (ramp.ts) through
 * `api.balancer.setLoadFactorScale`.
 *
 * What a ramp needs outlives generations (a reload mid-ramp must neither restart nor drop
 * it, and availability seen by the old generation must be compared with the new one's),
 * so it lives in a WeakMap keyed by the node object: the core keeps a node's object
 * across reloads that keep it, and each balancer (tests run several in one process) has
 * its own objects. The map sits on globalThis because a local plugin file is imported
 * afresh at each reload. Each node records the generation that drives it (`owner`): the
 * old generation, still running until its shutdown, leaves alone the nodes the new one
 * took over.
 */
import type { BalancerNode, Cluster, Logger, PluginApi, ResolvedConfig } from 'protobalance';
import { nextChangeAt, rampScale } from './ramp.ts';

/** How often availability is polled (a node marked available again starts its ramp within this). */
export const POLL_MS = 250;

interface NodeRamp {
  owner: object;
  /** `available` when last looked at: false → true is a comeback. */
  lastAvailable: boolean;
  /**
   * `failures` when last looked at. Each failed connect marks the node unavailable, so
   * more failures and available now is a comeback too: one that came and went between
   * two polls (a retry interval shorter than the poll).
   */
  lastFailures: number;
  /** Epoch ms the ramp began; undefined when the node runs at full weight. */
  since: number | undefined;
  /** The scale last set on the node. */
  applied: number;
}

const KEY = Symbol.for('protobalance-plugin-slow-start.ramps');
type Ramps = WeakMap<BalancerNode, NodeRamp>;
const ramps: Ramps = ((globalThis as Record<symbol, unknown>)[KEY] ??= new WeakMap()) as Ramps;

/** The cluster's slow-start window in ms, 0 for none. */
export function windowOf(cluster: { slowStart?: number | undefined } | undefined): number {
  const ms = cluster?.slowStart;
  return typeof ms === 'number' && ms > 0 ? ms : 0;
}

export class SlowStartDriver {
  private readonly token = {};
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly api: PluginApi,
    private readonly log: Logger,
  ) {}

  /** The clusters of this generation with a slow-start window. */
  private rampedClusters(): Cluster[] {
    return this.api.balancer.clusters().filter((c) => windowOf(c.config) > 0);
  }

  /** The node's record, taken over by this generation (made, seeing its availability now, if new). */
  private own(node: BalancerNode): NodeRamp {
    let r = ramps.get(node);
    if (!r) ramps.set(node, (r = { owner: this.token, lastAvailable: node.available, lastFailures: node.failures, since: undefined, applied: 1 }));
    r.owner = this.token;
    return r;
  }

  /** Serve: take over every node of this generation and poll. Called at `listening` and `configChanged`; idempotent. */
  start(): void {
    for (const c of this.api.balancer.clusters()) for (const n of c.nodes) this.own(n);
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** A node came back or was added: its ramp starts now, at the first step at once. */
  begin(node: BalancerNode, why: string, now = Date.now()): void {
    const window = windowOf(this.api.balancer.cluster(node.cluster)?.config);
    if (window === 0) return;
    const r = this.own(node);
    r.since = now;
    this.log.info({ node: node.key, why, slowStart: window }, 'slow start: ramping the node up');
    this.step(node, r, window, now);
  }

  /**
   * A new generation serves: nodes it has that the previous one had not (added at run time
   * or by a reload) ramp up; ramps of clusters that no longer have a window end at once.
   */
  configChanged(config: ResolvedConfig, previous: ResolvedConfig): void {
    const now = Date.now();
    for (const c of this.api.balancer.clusters()) {
      const window = windowOf(config.clusters[c.name]);
      const before = new Set(previous.clusters[c.name]?.nodes.map((n) => n.id) ?? []);
      for (const node of c.nodes) {
        if (window > 0) {
          if (!before.has(node.id)) this.begin(node, 'added', now);
          else this.own(node);
          continue;
        }
        // No window (any more): a ramp left from one ends at full weight.
        const r = ramps.get(node);
        if (r?.since !== undefined) this.finish(node, this.own(node));
      }
    }
    if (this.rampedClusters().length > 0) this.start();
  }

  /** Green again after yellow or red: it takes new clients again, so it ramps. */
  nodeStateChanged(node: BalancerNode, state: string, previous: string): void {
    if (state === 'green' && previous !== 'green') this.begin(node, `state ${previous} → green`);
  }

  private finish(node: BalancerNode, r: NodeRamp): void {
    r.since = undefined;
    if (r.applied !== 1) this.set(node, r, 1);
  }

  private set(node: BalancerNode, r: NodeRamp, scale: number): void {
    r.applied = scale;
    try {
      this.api.balancer.setLoadFactorScale(node, scale);
    } catch (err) {
      this.log.warn({ node: node.key, scale, err: String(err) }, 'slow start: the load factor scale was not taken');
    }
  }

  /** Set the node's scale for `now`; the time of its next change, if any. */
  private step(node: BalancerNode, r: NodeRamp, window: number, now: number): number | undefined {
    if (r.since === undefined) return undefined;
    const scale = rampScale(now - r.since, window);
    if (scale !== r.applied) this.set(node, r, scale);
    if (scale === 1) {
      r.since = undefined;
      this.log.debug({ node: node.key }, 'slow start: the node is at full weight');
      return undefined;
    }
    return nextChangeAt(r.since, now, window);
  }

  /** Poll availability, step the ramps, and sleep until the next step or poll. */
  private tick = (): void => {
    if (!this.running) return;
    const now = Date.now();
    let wake = now + POLL_MS;
    for (const c of this.rampedClusters()) {
      const window = windowOf(c.config);
      for (const node of c.nodes) {
        const r = ramps.get(node) ?? this.own(node);
        if (r.owner !== this.token) continue; // a newer generation drives it
        const comeback = node.available && (!r.lastAvailable || node.failures !== r.lastFailures);
        r.lastAvailable = node.available;
        r.lastFailures = node.failures;
        if (comeback) {
          this.begin(node, 'available again', now);
          continue;
        }
        const next = this.step(node, r, window, now);
        if (next !== undefined && next < wake) wake = next;
      }
    }
    this.timer = setTimeout(this.tick, Math.max(1, wake - Date.now()));
    // Polling must never keep the process alive.
    this.timer.unref();
  };
}
