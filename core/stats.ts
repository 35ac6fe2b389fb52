/**
 * The rate sampler: once a second (an unref'ed timer) it turns each live node's counters
 * into exponentially weighted rates, written to `node.connectionRate` (new connections
 * per second) and `node.bytesRate` (bytes per second, both directions). Nothing runs on
 * the forwarding path: the sampler only reads counters the connections keep anyway.
 *
 * - EWMA over the real elapsed time: `rate += alpha * (observed - rate)` with
 *   `alpha = 1 - exp(-dt / window)`, so a late tick weighs more, an early one less, and a
 *   steady rate is reached whatever the tick spacing. Rates below 1e-6 snap to 0, so a
 *   long-idle node reads as exactly idle.
 * - Connections: the growth of `node.totalConnections` since the last sample.
 * - Bytes, each counted once: a connection's bytes reach `node.bytesIn`/`bytesOut` only
 *   when it closes, so open connections are read live (`client.bytesRead + bytesWritten`),
 *   the part already counted kept per connection in a WeakMap. When a connection closes,
 *   its whole total arrives in `node.bytesIn + bytesOut`, of which the part counted live
 *   is subtracted: that part is (what the node's open connections had counted at the last
 *   sample) − (what those still open had counted then). Closing takes the connection out
 *   of the open set and adds its bytes to the node in one synchronous step, so a sample
 *   sees it either open or closed, never both or neither.
 * - The first sample that sees a node only takes its baseline. A node left out of a
 *   sample (gone from the serving generation) is forgotten, and starts from a new
 *   baseline if it comes back; its rates stay as they were meanwhile.
 */
import { nowMs } from './lazy-builtin.ts';

/** What the sampler reads and writes on a node (a `BalancerNode`). */
export interface SampledNode {
  readonly totalConnections: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  connectionRate: number;
  bytesRate: number;
}

/** What the sampler reads of an open connection (a `Connection`). */
export interface SampledConnection {
  readonly ctx: { readonly node: SampledNode | undefined };
  readonly client: { readonly bytesRead: number; readonly bytesWritten: number };
}

export interface RateSamplerOptions {
  /** The EWMA window in ms (`config.rateWindow`); a function to follow reloads. */
  window: number | (() => number);
  /** The nodes to rate: every node of the serving generation's clusters. */
  nodes: () => Iterable<SampledNode>;
  /** The open connections (of every generation). */
  connections: () => Iterable<SampledConnection>;
  /** Ms between samples (default 1000). */
  interval?: number;
  /** A monotonic clock in ms (default `performance.now`). */
  clock?: () => number;
}

/** A node's counters as of the last sample. */
interface Mark {
  connections: number;
  closedBytes: number;
  /** Bytes counted live, at the last sample, for the node's connections then open. */
  liveBytes: number;
}

/** What one sample gathers for one node from the open connections. */
interface Tally {
  /** Bytes counted now that were not counted before. */
  fresh: number;
  /** Of the connections already seen at the last sample, what they had counted then. */
  stillOpenBefore: number;
  /** Everything counted so far for the node's open connections. */
  live: number;
}

/** Last counted live bytes of a connection, and the node they were counted for. */
interface Seen {
  node: SampledNode;
  bytes: number;
}

const SNAP_TO_ZERO = 1e-6;

export class RateSampler {
  private readonly options: RateSamplerOptions;
  private readonly seen = new WeakMap<SampledConnection, Seen>();
  private marks = new Map<SampledNode, Mark>();
  private lastAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RateSamplerOptions) {
    this.options = options;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Take a baseline now, then sample every interval until `stop()`. */
  start(): void {
    if (this.timer) return;
    const clock = this.options.clock ?? nowMs;
    this.sample(clock());
    this.timer = setInterval(() => this.sample(clock()), this.options.interval ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample at `now` (ms on the sampler's clock); a `now` not after the last is ignored. */
  sample(now: number): void {
    const dt = this.lastAt === undefined ? 0 : now - this.lastAt;
    if (this.lastAt !== undefined && !(dt > 0)) return;
    this.lastAt = now;

    const tallies = new Map<SampledNode, Tally>();
    for (const node of this.options.nodes()) tallies.set(node, { fresh: 0, stillOpenBefore: 0, live: 0 });
    for (const conn of this.options.connections()) {
      const node = conn.ctx.node;
      const tally = node && tallies.get(node);
      if (!node || !tally) continue;
      const bytes = conn.client.bytesRead + conn.client.bytesWritten;
      const seen = this.seen.get(conn);
      if (seen && seen.node === node) {
        tally.stillOpenBefore += seen.bytes;
        // Never count a dip (pending writes dropped by a destroy) back up later.
        if (bytes > seen.bytes) {
          tally.fresh += bytes - seen.bytes;
          seen.bytes = bytes;
        }
        tally.live += seen.bytes;
      } else {
        // First seen (or moved to another node while dialling, with no bytes yet).
        tally.fresh += bytes;
        tally.live += bytes;
        this.seen.set(conn, { node, bytes });
      }
    }

    const window = typeof this.options.window === 'function' ? this.options.window() : this.options.window;
    const alpha = window > 0 ? 1 - Math.exp(-dt / window) : 1;
    const marks = new Map<SampledNode, Mark>();
    for (const [node, tally] of tallies) {
      const closedBytes = node.bytesIn + node.bytesOut;
      const mark = this.marks.get(node);
      marks.set(node, { connections: node.totalConnections, closedBytes, liveBytes: tally.live });
      if (!mark || dt === 0) continue;
      // Connections closed since the last sample brought their totals to closedBytes;
      // what of them was already counted live is what they had counted at the last sample.
      const countedOfClosed = mark.liveBytes - tally.stillOpenBefore;
      const closedFresh = Math.max(0, closedBytes - mark.closedBytes - countedOfClosed);
      const connections = Math.max(0, node.totalConnections - mark.connections);
      node.connectionRate = ewma(node.connectionRate, (connections * 1000) / dt, alpha);
      node.bytesRate = ewma(node.bytesRate, ((tally.fresh + closedFresh) * 1000) / dt, alpha);
    }
    this.marks = marks;
  }
}

function ewma(rate: number, observed: number, alpha: number): number {
  const next = rate + alpha * (observed - rate);
  return next < SNAP_TO_ZERO ? 0 : next;
}
