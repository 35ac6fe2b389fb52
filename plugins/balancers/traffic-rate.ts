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
 * Ties take turns (see lowest-rate.ts, which holds the scoring shared with connection-rate).
 */
import { defineAlgorithm } from 'protobalance';
import { lowestRate } from './lowest-rate.ts';

export default defineAlgorithm({
  name: 'traffic-rate',
  create() {
    const pick = lowestRate('bytesRate', (count, rates, activeAt) => {
      let total = 0;
      let open = 0;
      for (let i = 0; i < count; i++) {
        total += rates[i]!;
        const active = activeAt(i);
        if (active > 0) open += active;
      }
      return total > 0 ? total / Math.max(open, count) : 1;
    });
    // In the sandbox it reads the table, where the host writes only these figures.
    return { pick, usesTable: ['bytesRate', 'activeConnections', 'groupPicks', 'groupLastPick'] };
  },
});
