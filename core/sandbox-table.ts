/**
 * The candidates of a sandboxed algorithm, kept in a shared Float64Array instead of being
 * copied into the isolate on every call.
 *
 * Why: with 5,000 candidates, copying 5,000 plain objects through isolated-vm's structured
 * clone on each call took longer than the call limit. Now the host writes each candidate's
 * figures into a SharedArrayBuffer (a few doubles per node, in place), and sends the ids
 * (and a node's `metrics`, which a probe replaces as a whole) only when they change. The
 * isolate builds its NodeView objects once per candidate set (core/sandbox-prelude.ts);
 * their getters read the shared figures. The isolate still gets numbers and copied strings
 * only: never a host object. The host never reads this buffer back.
 */
import type { NodeView } from './types.ts';

/** Doubles per candidate, and which figure each holds (plugins/balancers/node-table.ts mirrors it). */
export const COLUMNS = {
  loadFactor: 0,
  activeConnections: 1,
  totalConnections: 2,
  connectionRate: 3,
  bytesRate: 4,
  recentFailures: 5,
  connectLatency: 6,
  state: 7,
} as const;
export const STRIDE = 8;
/** Every column, and metrics: for algorithms that read NodeView objects. */
export const ALL = 0xff;
/** `state` as a number in the table (index into this list). */
export const STATES = ['green', 'yellow', 'red'] as const;

/** What a call must carry besides the shared figures: only what changed since the last call. */
export interface TableUpdate {
  /** The buffer, when the isolate has not got it yet (new, grown, or a new isolate). */
  sab?: SharedArrayBuffer;
  /** Every candidate's id, when the set (or a load factor) changed: the isolate renumbers. */
  ids?: string[];
  /** (index, metrics) of candidates whose `metrics` object changed. */
  metrics?: [number, Record<string, number>][];
}

type Peer = { active: number; connectionRate: number; bytesRate: number };

export class NodeTable {
  private sab = new SharedArrayBuffer(0);
  private f64 = new Float64Array(this.sab);
  private sent: NodeView[] = [];
  private factors: number[] = [];
  private metrics: unknown[] = [];
  /** The isolate has `sab` and `sent`'s ids (false after a new isolate). */
  private attached = false;
  /** Bumped whenever the ids the isolate numbers by change. */
  version = 0;

  /** The isolate was booted afresh: it has nothing of ours. */
  detach(): void {
    this.attached = false;
  }

  /**
   * Write `nodes`' figures in place, one pass that also finds whether the candidates (or a
   * load factor) changed, and say what else the isolate needs. `columns`: a mask of the
   * COLUMNS to write (loadFactor always; metrics only with ALL): a plan needs none, a
   * built-in names the figures it reads, a user's algorithm gets them all.
   */
  sync(nodes: readonly NodeView[], columns: number): TableUpdate {
    const out: TableUpdate = {};
    const n = nodes.length;
    if (this.f64.length < n * STRIDE) {
      // Grown by half again, so that a cluster growing node by node does not reallocate each time.
      this.sab = new SharedArrayBuffer(Math.ceil(Math.max(n, (this.f64.length / STRIDE) * 1.5, 16)) * STRIDE * 8);
      this.f64 = new Float64Array(this.sab);
      this.attached = false;
    }
    if (!this.attached) out.sab = this.sab;
    const sent = this.sent;
    const factors = this.factors;
    let same = this.attached && n === sent.length;
    const f = this.f64;
    const all = columns === ALL;
    const c = columns;
    let changed: [number, Record<string, number>][] | undefined;
    for (let i = 0, at = 0; i < n; i++, at += STRIDE) {
      const node = nodes[i]!;
      const factor = node.loadFactor;
      if (same && (node !== sent[i] || factor !== factors[i])) same = false;
      f[at] = factor;
      if (c === 0) continue;
      const peer = (node as { peer?: Peer }).peer;
      if (c & (1 << COLUMNS.activeConnections)) f[at + 1] = peer ? node.activeConnections + peer.active : node.activeConnections;
      if (c & (1 << COLUMNS.totalConnections)) f[at + 2] = node.totalConnections;
      if (c & (1 << COLUMNS.connectionRate)) f[at + 3] = peer ? node.connectionRate + peer.connectionRate : node.connectionRate;
      if (c & (1 << COLUMNS.bytesRate)) f[at + 4] = peer ? node.bytesRate + peer.bytesRate : node.bytesRate;
      if (!all) continue;
      f[at + 5] = node.recentFailures;
      f[at + 6] = node.connectLatency;
      f[at + 7] = node.state === 'green' ? 0 : node.state === 'yellow' ? 1 : 2;
      // A probe replaces the whole object (plugins/metrics/load-probe.ts): identity says it changed.
      if (node.metrics !== this.metrics[i]) {
        this.metrics[i] = node.metrics;
        (changed ??= []).push([i, { ...node.metrics }]);
      }
    }
    if (!same) {
      this.sent = nodes.slice();
      this.factors = nodes.map((node) => node.loadFactor);
      this.version++;
      out.ids = nodes.map((node) => node.id);
      if (all) {
        // Every candidate's metrics go with new ids (the isolate forgets the old ones).
        this.metrics = nodes.map((node) => node.metrics);
        changed = [];
        for (let i = 0; i < n; i++) if (Object.keys(nodes[i]!.metrics).length > 0) changed.push([i, { ...nodes[i]!.metrics }]);
      } else this.metrics = new Array(n);
    }
    if (changed && changed.length > 0) out.metrics = changed;
    this.attached = true;
    return out;
  }
}
