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
 * Ties take turns (see lowest-rate.ts, which holds the scoring shared with traffic-rate).
 */
import { defineAlgorithm } from 'protobalance';
import { lowestRate } from './lowest-rate.ts';

export default defineAlgorithm({
  name: 'connection-rate',
  create() {
    // Each pick is one more connection per second on its node until the next sample.
    const pick = lowestRate('connectionRate', () => 1);
    // In the sandbox it reads the table, where the host writes only this figure.
    return { pick, usesTable: ['connectionRate', 'groupPicks', 'groupLastPick'] };
  },
});
