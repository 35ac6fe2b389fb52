/**
 * An algorithm instance in its isolate, as a chooser the guard can wait for with a
 * deadline (`request`), or call plainly (`pick`, `rank`: they wait up to the time limit).
 *
 * Batchable algorithms (`batchable: true`) plan 256 picks per call, used while the
 * candidates (ids and load factors) stay the same; when half of a plan is used, the next
 * one is asked for in the background, so a steady round robin never waits for the isolate.
 * A plan for other candidates replaces the rest of the old one.
 *
 * The candidates reach the isolate through a shared table (core/sandbox-table.ts), not as
 * copies per call. Taking a pick from a plan must not cost a scan of 5,000 candidates
 * either: for the same array as the last pick, only its length and one rotating entry are
 * compared, and every VERIFY_EVERY-th pick compares all (so a load factor changed in place
 * is noticed within that many picks; a new array is always compared whole).
 */
import type { CallResult, DeferredChooser, PickRequest } from './algorithm-runner.ts';
import type { SandboxInstance } from './sandbox-instance.ts';
import type { Call } from './sandbox-thread.ts';
import type { Counter } from './shared-counters.ts';
import type { ClientView, NodeView } from './types.ts';

/** Picks planned per call: the next plan is asked for when half are used (measured: 256 makes a
 * round-robin choice cost less than the 64-pick applySync plan did, at no wait). */
const BATCH = 256;
const VERIFY_EVERY = 64;

/** The client as plain data (the core's view reads the address lazily, through getters). */
function plain(client: ClientView): ClientView {
  return { address: client.address, port: client.port, listener: client.listener };
}


interface PendingPlan {
  call: Call;
  ids: string[];
  factors: number[];
}

export class SandboxChooser implements DeferredChooser {
  readonly callLimit: number;
  rank?: (nodes: readonly NodeView[], client: ClientView) => string[];
  /** Upcoming picks, as indices into `plannedIds`. */
  private planned: number[] = [];
  private next = 0;
  private plannedIds: string[] = [];
  private plannedFactors: number[] = [];
  private pending: PendingPlan | undefined;
  /** The array the plan was last found to be for, picks since a full comparison, a rotating probe. */
  private checked: readonly NodeView[] | undefined;
  private sinceFull = 0;
  private probe = 0;

  /**
   * `position`, for a cyclic algorithm: the plan is one whole cycle, asked for once per
   * candidate set, and each pick takes the entry at the group's shared position, so every
   * process of the group follows one rotation.
   */
  constructor(
    private readonly host: SandboxInstance,
    cpuTimeout: number,
    private readonly position?: Counter,
  ) {
    this.callLimit = cpuTimeout;
    if (host.hasRank) this.rank = (nodes, client) => this.rankNow(nodes, client);
  }

  request(nodes: readonly NodeView[], client: ClientView, waitMs: number): PickRequest {
    if (this.host.batchable) {
      const hit = this.fromPlan(nodes);
      if (hit) return { now: hit };
    }
    // A cycle is asked for once per candidate set: waiting for it up to the time limit
    // costs the event loop once, where a choice made by the guard's fallback instead
    // would break the rotation the processes share.
    if (this.position && waitMs > 0) waitMs = Math.max(waitMs, this.callLimit);
    const end = performance.now() + waitMs;
    if (waitMs > 0) this.host.waitIdle(waitMs);
    if (this.host.batchable) {
      const hit = this.fromPlan(nodes);
      if (hit) return { now: hit };
    }
    const call = this.host.batchable ? this.startPlan(nodes) : this.host.start(0, nodes, plain(client));
    if (!call) return {};
    if (this.host.wait(call, Math.max(0, end - performance.now()))) {
      if (!this.host.batchable) return { now: result(call) };
      this.adopt();
      return { now: this.fromPlan(nodes) ?? failed(call) };
    }
    const pending = this.pending?.call === call ? this.pending : undefined;
    const outcome = () => (pending ? firstOf(pending) : result(call));
    return { later: call.done.then(outcome), poll: () => (this.host.observe(call) ? outcome() : undefined) };
  }

  chosen(nodes: readonly NodeView[], node: NodeView, index: number | undefined): void {
    this.host.table.recordPick(node, index);
  }

  /** A choice made without the isolate keeps the group's order: the node the group picked least recently. */
  standIn<N extends NodeView>(nodes: readonly N[]): N | undefined {
    return this.host.table.leastRecent(nodes);
  }

  pick(nodes: readonly NodeView[], client: ClientView): string | undefined {
    const r = this.request(nodes, client, this.callLimit);
    if (!r.now) throw new Error(r.later ? `no answer within its time limit of ${this.callLimit} ms` : 'busy with an earlier call');
    const answer = r.now;
    if (!answer.ok) throw new Error(answer.error);
    // Called plainly (not through the guard, which says what it chose): counted here.
    if (this.host.table.ledger) {
      const i = answer.index;
      const node = i !== undefined && nodes[i]?.id === answer.id ? nodes[i] : nodes.find((n) => n.id === answer.id);
      if (node) this.host.table.recordPick(node, i);
    }
    return answer.id;
  }

  private rankNow(nodes: readonly NodeView[], client: ClientView): string[] {
    this.host.waitIdle(this.callLimit);
    const call = this.host.start(2, nodes, plain(client));
    if (!call) throw new Error('busy with an earlier call');
    if (!this.host.wait(call, this.callLimit)) throw new Error(`no ranking within its time limit of ${this.callLimit} ms`);
    const o = call.outcome!;
    if (!o.ok) throw new Error(o.error);
    return (o.indices ?? []).filter((i) => i >= 0 && i < nodes.length).map((i) => nodes[i]!.id);
  }

  /** The next planned pick, when the plan is for these candidates; asks for the next plan early. */
  private fromPlan(nodes: readonly NodeView[]): CallResult | undefined {
    if (this.pending) this.adopt();
    if (this.position) {
      if (this.planned.length === 0 || !this.forPlan(nodes)) return undefined;
      const at = this.planned[this.position.next() % this.planned.length]!;
      return { ok: true, id: this.plannedIds[at]!, ms: 0, index: at };
    }
    if (this.next >= this.planned.length || !this.forPlan(nodes)) return undefined;
    const index = this.planned[this.next++]!;
    if (this.planned.length - this.next <= BATCH / 2 && !this.pending) this.startPlan(nodes);
    return { ok: true, id: this.plannedIds[index]!, ms: 0, index };
  }

  private startPlan(nodes: readonly NodeView[]): Call | undefined {
    // A plan reads ids and load factors only: the other figures are not written.
    const call = this.position ? this.host.start(3, nodes, cycleLength(nodes), false) : this.host.start(1, nodes, BATCH, false);
    if (!call) return undefined;
    const pending = { call, ids: nodes.map((n) => n.id), factors: nodes.map((n) => n.loadFactor) };
    this.pending = pending;
    void call.done.then(() => this.adopt());
    return call;
  }

  /** Take a finished plan: appended when it is for the same candidates, else in place of the old. */
  private adopt(): void {
    const p = this.pending;
    if (!p || !this.host.observe(p.call)) return;
    this.pending = undefined;
    const o = p.call.outcome!;
    if (!o.ok || !o.indices) return;
    const picks = o.indices.filter((i) => i >= 0 && i < p.ids.length);
    if (!this.position && sameLists(p.ids, p.factors, this.plannedIds, this.plannedFactors)) {
      this.planned = this.planned.slice(this.next).concat(picks);
    } else {
      this.planned = picks;
      this.plannedIds = p.ids;
      this.plannedFactors = p.factors;
    }
    this.next = 0;
    this.checked = undefined;
  }

  /** True when the plan is for `nodes` (see the top of this file for how cheaply). */
  private forPlan(nodes: readonly NodeView[]): boolean {
    const n = nodes.length;
    if (nodes === this.checked && n === this.plannedIds.length && ++this.sinceFull < VERIFY_EVERY) {
      if (n === 0) return true;
      const i = (this.probe = (this.probe + 1) % n);
      if (nodes[i]!.id === this.plannedIds[i] && nodes[i]!.loadFactor === this.plannedFactors[i]) return true;
    }
    this.checked = undefined;
    if (!same(nodes, this.plannedIds, this.plannedFactors)) return false;
    this.checked = nodes;
    this.sinceFull = 0;
    return true;
  }
}

/** Longest cycle planned: a longer one (factors far apart) is cut, and its wrap is not exact. */
const MAX_CYCLE = 4096;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Picks in one cycle of a smooth weighted rotation over `nodes`: the sum of the load
 * factors made whole numbers (scaled by the smallest power of ten that does it, then
 * divided by their greatest common divisor), at most MAX_CYCLE.
 */
function cycleLength(nodes: readonly NodeView[]): number {
  if (nodes.length === 0) return 1;
  for (const scale of [1, 10, 100, 1000]) {
    const whole = nodes.map((n) => Math.round(n.loadFactor * scale));
    if (!nodes.every((n, i) => Math.abs(n.loadFactor * scale - whole[i]!) < 1e-9 && whole[i]! > 0)) continue;
    const g = whole.reduce(gcd);
    const sum = whole.reduce((t, w) => t + w / g, 0);
    return Math.min(sum, MAX_CYCLE);
  }
  return MAX_CYCLE;
}

function result(call: Call): CallResult {
  const o = call.outcome!;
  return o.ok ? { ok: true, id: o.id ?? '', ms: o.ms, ...(o.index === undefined || o.index < 0 ? {} : { index: o.index }) } : o;
}

function failed(call: Call): CallResult {
  const o = call.outcome!;
  return o.ok ? { ok: false, cause: 'answer', error: 'planned no picks' } : o;
}

/** How a late plan call ended, for the record: its first pick (not taken from the plan). */
function firstOf(p: PendingPlan): CallResult {
  const o = p.call.outcome!;
  if (!o.ok) return o;
  const first = o.indices?.[0];
  return first === undefined || first >= p.ids.length ? { ok: false, cause: 'answer', error: 'planned no picks' } : { ok: true, id: p.ids[first]!, ms: o.ms };
}

function same(nodes: readonly NodeView[], ids: string[], factors: number[]): boolean {
  if (nodes.length !== ids.length) return false;
  for (let i = 0; i < nodes.length; i++) if (nodes[i]!.id !== ids[i] || nodes[i]!.loadFactor !== factors[i]) return false;
  return true;
}

function sameLists(aIds: string[], aFactors: number[], bIds: string[], bFactors: number[]): boolean {
  if (aIds.length !== bIds.length) return false;
  for (let i = 0; i < aIds.length; i++) if (aIds[i] !== bIds[i] || aFactors[i] !== bFactors[i]) return false;
  return true;
}
