/**
 * Lowest connection rate, weighted: each pick takes the node with the fewest new
 * connections per second per unit of load factor.
 *
 * Contract: a node scores (connectionRate + recent + ½) / loadFactor and the lowest wins.
 * `connectionRate` is sampled once a second (exponentially weighted over `rateWindow`),
 * so without more, a burst of connections within one second would all land on the node
 * that was lowest at the last sample. `recent` is the number of picks this instance made
 * for the node since it last saw the node's connectionRate change: each pick counts as
 * one more connection per second on that node until a new sample shows the real figure,
 * and the count restarts from 0 then. The ½ counts the pick being made from its middle
 * (Sainte-Laguë rounding), so that rounding a second's picks to whole connections
 * favours neither small nor large factors. Among nodes with equal rates (all idle, say)
 * picks follow the factors exactly: {a: 3, b: 1} gives a 3 of every 4. With rates fed
 * back from the picks, long-run shares follow the factors to within about one connection
 * per node per second (a second's picks are whole numbers).
 * Scores within a relative 1e-6 of the lowest are a tie, given to the tied node picked
 * least recently (never picked first, in candidate order), so tied nodes take turns.
 * A rate that is not a finite positive number counts as 0. State: a few numbers per
 * node id, pruned to the candidates when it outgrows them.
 */
import { defineAlgorithm } from 'protobalance';

const TIE = 1e-6;

export default defineAlgorithm({
  name: 'connection-rate',
  create() {
    const seenRate = new Map<string, number>();
    const recent = new Map<string, number>();
    const lastPicked = new Map<string, number>();
    let picks = 0;
    return {
      pick(nodes) {
        const scores = new Array<number>(nodes.length);
        let lowest = Infinity;
        for (let i = 0; i < nodes.length; i++) {
          const node = nodes[i]!;
          const rate = node.connectionRate > 0 && node.connectionRate < Infinity ? node.connectionRate : 0;
          if (seenRate.get(node.id) !== rate) {
            seenRate.set(node.id, rate);
            recent.delete(node.id);
          }
          const score = (rate + (recent.get(node.id) ?? 0) + 0.5) / node.loadFactor;
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
      },
    };
  },
});
