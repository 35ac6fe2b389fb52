/**
 * Lowest traffic, weighted: each pick takes the node moving the fewest bytes per second
 * (both directions) per unit of load factor.
 *
 * Contract: a node scores (bytesRate + (recent + ½) × perPick) / loadFactor and the
 * lowest wins. `bytesRate` is sampled once a second (exponentially weighted over
 * `rateWindow`), so without more, a burst of connections within one second would all
 * land on the node that was quietest at the last sample. `recent` is the number of picks
 * this instance made for the node since it last saw the node's bytesRate change
 * (restarting from 0 then); each counts as `perPick` more bytes per second until a new
 * sample shows the real figure, and the ½ counts the pick being made from its middle
 * (Sainte-Laguë rounding: neither small nor large factors favoured). A new connection's
 * traffic is unknown, so `perPick` is the candidates' mean byte rate per open
 * connection, but never more than their mean per node:
 * sum(bytesRate) / max(sum(activeConnections), candidates): one pick never adds more
 * than the average node's traffic to a node's estimate, and a node moving far more than
 * the others is left alone for a burst. When every rate is 0, perPick is 1 and picks
 * follow the factors exactly: {a: 3, b: 1} gives a 3 of every 4.
 * Scores within a relative 1e-6 of the lowest are a tie, given to the tied node picked
 * least recently (never picked first, in candidate order), so tied nodes take turns.
 * A rate that is not a finite positive number counts as 0. State: a few numbers per
 * node id, pruned to the candidates when it outgrows them.
 */
import { defineAlgorithm } from 'protobalance';

const TIE = 1e-6;

export default defineAlgorithm({
  name: 'traffic-rate',
  create() {
    const seenRate = new Map<string, number>();
    const recent = new Map<string, number>();
    const lastPicked = new Map<string, number>();
    let picks = 0;
    return {
      pick(nodes) {
        const rates = new Array<number>(nodes.length);
        let totalRate = 0;
        let open = 0;
        for (let i = 0; i < nodes.length; i++) {
          const node = nodes[i]!;
          const rate = node.bytesRate > 0 && node.bytesRate < Infinity ? node.bytesRate : 0;
          if (seenRate.get(node.id) !== rate) {
            seenRate.set(node.id, rate);
            recent.delete(node.id);
          }
          rates[i] = rate;
          totalRate += rate;
          if (node.activeConnections > 0) open += node.activeConnections;
        }
        const perPick = totalRate > 0 ? totalRate / Math.max(open, nodes.length) : 1;
        const scores = new Array<number>(nodes.length);
        let lowest = Infinity;
        for (let i = 0; i < nodes.length; i++) {
          const node = nodes[i]!;
          const score = (rates[i]! + ((recent.get(node.id) ?? 0) + 0.5) * perPick) / node.loadFactor;
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
