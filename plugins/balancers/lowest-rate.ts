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
 * candidate, instead of NodeView objects and Map lookups per node. There, picks are
 * counted for the whole group of processes (the host's ledger, core/sandbox-table.ts):
 * `recent` is the group's picks of the node since this instance saw its rate change, and
 * a tie goes to the node the group picked least recently, so the processes of a group
 * spread a burst, and rotate sequential clients, as one balancer does.
 */
import type { NodeView } from 'protobalance';
import { COL, tableOf, type NodeTable } from './node-table.ts';

const TIE = 1e-6;

/** What one new connection is expected to add to a node's rate; `activeAt(i)` is candidate i's open connections. */
export type PerPick = (count: number, rates: ArrayLike<number>, activeAt: (i: number) => number) => number;

/** A pick function over the `column` figure (for NodeViews: the same field). */
export function lowestRate(column: 'connectionRate' | 'bytesRate', perPick: PerPick): (nodes: readonly NodeView[]) => string {
  const fromTable = tablePicker(column, perPick);
  const seenRate = new Map<string, number>();
  const recent = new Map<string, number>();
  const lastPicked = new Map<string, number>();
  let picks = 0;

  return (nodes) => {
    const t = tableOf(nodes);
    if (t) return fromTable(nodes, t);
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
    if (seenRate.size > nodes.length * 4) prune([seenRate, recent, lastPicked], nodes);
    return id;
  };
}

/** Forget nodes long gone, so that the maps cannot grow without bound. */
function prune(maps: Map<string, number>[], nodes: readonly NodeView[]): void {
  const live = new Set(nodes.map((n) => n.id));
  for (const map of maps) for (const key of map.keys()) if (!live.has(key)) map.delete(key);
}

/**
 * The table path: the same scores over the shared figures, with the group's ledger
 * (groupPicks, groupLastPick) in place of this instance's own counts. The host counts the
 * pick in the ledger when the answer arrives.
 */
function tablePicker(column: 'connectionRate' | 'bytesRate', perPick: PerPick): (nodes: readonly NodeView[], t: NodeTable) => string {
  // By node id, across candidate sets: the rate last seen, and the ledger's picks then.
  const seenRate = new Map<string, number>();
  const baseOf = new Map<string, number>();
  // For one candidate set (`version`), indexed by candidate.
  let version = -1;
  let ids: string[] = [];
  let seen = new Float64Array(0);
  let base = new Float64Array(0);
  let rates = new Float64Array(0);
  let scores = new Float64Array(0);

  const load = (nodes: readonly NodeView[], t: NodeTable): void => {
    for (let i = 0; i < ids.length; i++) {
      seenRate.set(ids[i]!, seen[i]!);
      baseOf.set(ids[i]!, base[i]!);
    }
    if (seenRate.size > nodes.length * 4) prune([seenRate, baseOf], nodes);
    const n = nodes.length;
    ids = nodes.map((node) => node.id);
    seen = new Float64Array(n).fill(NaN);
    base = new Float64Array(n);
    rates = new Float64Array(n);
    scores = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      seen[i] = seenRate.get(ids[i]!) ?? NaN;
      base[i] = baseOf.get(ids[i]!) ?? 0;
    }
    version = t.version;
  };

  return (nodes, t) => {
    if (t.version !== version) load(nodes, t);
    const f = t.figures;
    const s = t.stride;
    const col = COL[column];
    const n = nodes.length;
    for (let i = 0, at = 0; i < n; i++, at += s) {
      const raw = f[at + col]!;
      const rate = raw > 0 && raw < Infinity ? raw : 0;
      const picked = f[at + COL.groupPicks]!;
      // A new rate counts the picks from here; a ledger that went back (a new segment) too.
      if (seen[i] !== rate || picked < base[i]!) {
        seen[i] = rate;
        base[i] = picked;
      }
      rates[i] = rate;
    }
    const step = perPick(n, rates, (i) => f[i * s + COL.activeConnections]!);
    let lowest = Infinity;
    for (let i = 0, at = 0; i < n; i++, at += s) {
      const score = (rates[i]! + (f[at + COL.groupPicks]! - base[i]! + 0.5) * step) / f[at]!;
      scores[i] = score;
      if (score < lowest) lowest = score;
    }
    let chosen = 0;
    let chosenAt = Infinity;
    for (let i = 0, at = COL.groupLastPick; i < n; i++, at += s) {
      if (scores[i]! - lowest > TIE * lowest) continue;
      if (f[at]! < chosenAt) {
        chosen = i;
        chosenAt = f[at]!;
      }
    }
    return ids[chosen]!;
  };
}
