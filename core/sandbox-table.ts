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
import type { SharedCounters } from './shared-counters.ts';
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
  /** Picks of the node by every process of the group, and the group's pick number of its last (0: never): see `ledgerOf`. */
  groupPicks: 8,
  groupLastPick: 9,
} as const;
export const STRIDE = 10;
/** Every NodeView figure, and metrics: for algorithms that read NodeView objects (not the ledger). */
export const ALL = 0xff;
/** The ledger's columns, written only for a chooser that names them. */
export const LEDGER = (1 << COLUMNS.groupPicks) | (1 << COLUMNS.groupLastPick);

/**
 * Where a node's picks are counted for the whole group: two int32 (picks, the group's pick
 * number of the last one) in memory the processes share, and the cluster's pick number.
 * DESIGN: the rate algorithms spread a burst by counting the picks made since a node's rate
 * was last sampled. Counted per process, two processes each sent their next client to the
 * same idle node; counted here, every process sees every pick at once, and ties go to the
 * node the group picked least recently, so the group rotates as one balancer does.
 */
export interface PickLedger {
  ledgerOf(nodeId: string): Int32Array;
  nextPick(): number;
}
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

/** The ledger of `cluster`'s picks in `counters` (shared by the group, or this process's own). */
export function pickLedger(counters: SharedCounters, cluster: string): PickLedger {
  const seq = counters.counter(`picks\0${cluster}`);
  return {
    ledgerOf: (nodeId) => counters.int32(`picks\0${cluster}\0${nodeId}`, 2),
    // 0 stays "never picked".
    nextPick: () => (seq.next() % 0x7fffffff) + 1,
  };
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
  /** Set for a chooser that reads the ledger columns. */
  ledger: PickLedger | undefined;
  /** The ledger of each candidate of `sent`. */
  private ledgers: Int32Array[] = [];

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
    const ledgers = c & LEDGER && this.ledger ? this.ledgersFor(nodes) : undefined;
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
      if (ledgers) {
        f[at + 8] = Atomics.load(ledgers[i]!, 0);
        f[at + 9] = Atomics.load(ledgers[i]!, 1);
      }
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
      this.ledgers = ledgers ?? [];
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

  /** Count a pick of `node` (candidate `index` of the last sync, when known) in the group's ledger. */
  recordPick(node: NodeView, index: number | undefined): void {
    if (!this.ledger) return;
    const l = (index !== undefined && this.sent[index] === node ? this.ledgers[index] : undefined) ?? this.ledger.ledgerOf(node.id);
    Atomics.add(l, 0, 1);
    Atomics.store(l, 1, this.ledger.nextPick());
  }

  /** The candidate the group picked least recently (never picked first), by the ledger; undefined without one. */
  leastRecent<N extends NodeView>(nodes: readonly N[]): N | undefined {
    if (!this.ledger || nodes.length === 0) return undefined;
    // The last sync's ledgers when these are its candidates (the usual case: the answer to
    // that very call came late), not a name lookup per candidate on every such choice.
    const ledgers = this.ledgersFor(nodes);
    let best = 0;
    let bestAt = Infinity;
    for (let i = 0; i < nodes.length; i++) {
      const at = Atomics.load(ledgers[i]!, 1);
      if (at < bestAt) (best = i), (bestAt = at);
    }
    return nodes[best];
  }

  /** The candidates' ledgers: the last ones while the candidates are the same objects. */
  private ledgersFor(nodes: readonly NodeView[]): Int32Array[] {
    const had = this.ledgers;
    const sent = this.sent;
    if (had.length === nodes.length && sent.length === nodes.length) {
      let same = true;
      for (let i = 0; i < nodes.length && same; i++) same = nodes[i] === sent[i];
      if (same) return had;
    }
    const ledger = this.ledger!;
    return nodes.map((node) => ledger.ledgerOf(node.id));
  }
}
