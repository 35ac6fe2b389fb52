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
 */
import type { NodeView } from 'protobalance';

const TIE = 1e-6;

/**
 * A pick function over `rateOf(node)`; `perPick(nodes, rates)` is what one new connection
 * is expected to add to a node's rate.
 */
export function lowestRate(
  rateOf: (node: NodeView) => number,
  perPick: (nodes: readonly NodeView[], rates: readonly number[]) => number,
): (nodes: readonly NodeView[]) => string {
  const seenRate = new Map<string, number>();
  const recent = new Map<string, number>();
  const lastPicked = new Map<string, number>();
  let picks = 0;
  return (nodes) => {
    const rates = new Array<number>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const raw = rateOf(node);
      const rate = raw > 0 && raw < Infinity ? raw : 0;
      if (seenRate.get(node.id) !== rate) {
        seenRate.set(node.id, rate);
        recent.delete(node.id);
      }
      rates[i] = rate;
    }
    const step = perPick(nodes, rates);
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
    if (seenRate.size > nodes.length * 4) {
      // Forget nodes long gone so the maps cannot grow without bound.
      const live = new Set(nodes.map((n) => n.id));
      for (const map of [seenRate, recent, lastPicked]) for (const key of map.keys()) if (!live.has(key)) map.delete(key);
    }
    return id;
  };
}
