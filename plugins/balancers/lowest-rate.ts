/**
 * The shared core of the rate-based algorithms (connection-rate, traffic-rate): not an
 * algorithm itself, bundled into each. A node scores
 * (rate + (recent + ½) × perPick) / loadFactor and the lowest wins, where `recent` counts
 * the picks made for the node since its sampled rate last changed (so a burst between two
 * samples spreads out) and the ½ is Sainte-Laguë rounding (neither small nor large factors
 * favoured). Scores within a relative 1e-6 of the lowest tie, and a tie goes to the tied
 * node picked least recently, so tied nodes take turns. A rate that is not a finite
 * positive number counts as 0. State: a few numbers per node id, pruned to the candidates
 * when it outgrows them.
 *
 * Every pick must look at every rate (they change under it), so a pick is O(n) by nature.
 * In the sandbox it runs over the shared table (node-table.ts) and typed arrays indexed by
 * candidate, kept per candidate set and written back by id when the set changes, instead
 * of NodeView objects and three Map lookups per node: same scores, same picks.
 */
import type { NodeView } from 'protobalance';
import { COL, tableOf, type NodeTable } from './node-table.ts';

const TIE = 1e-6;

/** What one new connection is expected to add to a node's rate; `activeAt(i)` is candidate i's open connections. */
export type PerPick = (count: number, rates: ArrayLike<number>, activeAt: (i: number) => number) => number;

/** A pick function over the `column` figure (for NodeViews: the same field). */
export function lowestRate(column: 'connectionRate' | 'bytesRate', perPick: PerPick): (nodes: readonly NodeView[]) => string {
  const seenRate = new Map<string, number>();
  const recent = new Map<string, number>();
  const lastPicked = new Map<string, number>();
  let picks = 0;
  // The table path's state, for one candidate set (`version`).
  let version = -1;
  let ids: string[] = [];
  let seen = new Float64Array(0);
  let counts = new Float64Array(0);
  let last = new Float64Array(0);
  let rates = new Float64Array(0);
  let scores = new Float64Array(0);

  const settle = (): void => {
    for (let i = 0; i < ids.length; i++) {
      seenRate.set(ids[i]!, seen[i]!);
      if (counts[i]! > 0) recent.set(ids[i]!, counts[i]!);
      else recent.delete(ids[i]!);
      if (last[i]! >= 0) lastPicked.set(ids[i]!, last[i]!);
    }
    version = -1;
  };
  const prune = (nodes: readonly NodeView[]): void => {
    if (seenRate.size <= nodes.length * 4) return;
    // Forget nodes long gone so the maps cannot grow without bound.
    const live = new Set(nodes.map((n) => n.id));
    for (const map of [seenRate, recent, lastPicked]) for (const key of map.keys()) if (!live.has(key)) map.delete(key);
  };
  const load = (nodes: readonly NodeView[], t: NodeTable): void => {
    if (version !== -1) settle();
    prune(nodes);
    const n = nodes.length;
    ids = nodes.map((node) => node.id);
    seen = new Float64Array(n).fill(NaN);
    counts = new Float64Array(n);
    last = new Float64Array(n);
    rates = new Float64Array(n);
    scores = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      seen[i] = seenRate.get(id) ?? NaN;
      counts[i] = recent.get(id) ?? 0;
      last[i] = lastPicked.get(id) ?? -1;
    }
    version = t.version;
  };
  const fromTable = (nodes: readonly NodeView[], t: NodeTable): string => {
    if (t.version !== version) load(nodes, t);
    const f = t.figures;
    const s = t.stride;
    const col = COL[column];
    const n = nodes.length;
    for (let i = 0, at = col; i < n; i++, at += s) {
      const raw = f[at]!;
      const rate = raw > 0 && raw < Infinity ? raw : 0;
      if (seen[i] !== rate) {
        seen[i] = rate;
        counts[i] = 0;
      }
      rates[i] = rate;
    }
    const step = perPick(n, rates, (i) => f[i * s + COL.activeConnections]!);
    let lowest = Infinity;
    for (let i = 0, at = 0; i < n; i++, at += s) {
      const score = (rates[i]! + (counts[i]! + 0.5) * step) / f[at]!;
      scores[i] = score;
      if (score < lowest) lowest = score;
    }
    let chosen = 0;
    let chosenAt = Infinity;
    for (let i = 0; i < n; i++) {
      if (scores[i]! - lowest > TIE * lowest) continue;
      if (last[i]! < chosenAt) {
        chosen = i;
        chosenAt = last[i]!;
      }
    }
    counts[chosen] = counts[chosen]! + 1;
    last[chosen] = ++picks;
    return ids[chosen]!;
  };

  return (nodes) => {
    const t = tableOf(nodes);
    if (t) return fromTable(nodes, t);
    if (version !== -1) settle();
    const rates = new Array<number>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const raw = node[column];
      const rate = raw > 0 && raw < Infinity ? raw : 0;
      if (seenRate.get(node.id) !== rate) {
        seenRate.set(node.id, rate);
        recent.delete(node.id);
      }
      rates[i] = rate;
    }
    const step = perPick(nodes.length, rates, (i) => nodes[i]!.activeConnections);
    const scores = new Array<number>(nodes.length);
    let lowest = Infinity;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const score = (rates[i]! + ((recent.get(node.id) ?? 0) + 0.5) * step) / node.loadFactor;
      scores[i] = score;
      if (score < lowest) lowest = score;
    }
    let chosen = 0;
    let chosenAt = Infinity;
    for (let i = 0; i < nodes.length; i++) {
      if (scores[i]! - lowest > TIE * lowest) continue;
      const at = lastPicked.get(nodes[i]!.id) ?? -1;
      if (at < chosenAt) {
        chosen = i;
        chosenAt = at;
      }
    }
    const id = nodes[chosen]!.id;
    recent.set(id, (recent.get(id) ?? 0) + 1);
    lastPicked.set(id, ++picks);
    prune(nodes);
    return id;
  };
}
