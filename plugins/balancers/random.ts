/**
 * Pure random, weighted: each pick takes a node with probability loadFactor / total,
 * independently of every earlier pick.
 *
 * Options: `seed` (a number) makes the sequence repeatable (tests, simulations); without
 * it, Math.random is used.
 *
 * In the sandbox (a candidate table, see node-table.ts) a pick is a binary search over the
 * running totals of the factors, kept per candidate set: O(log n), and the same pick as
 * the scan for whole-number factors (subtracting whole numbers from the point is exact).
 */
import { defineAlgorithm } from 'protobalance';
import { tableOf } from './node-table.ts';

/** mulberry32: a small, fast, well-spread 32-bit PRNG for repeatable runs. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export default defineAlgorithm<{ seed?: number }>({
  name: 'random',
  // Picks depend only on the candidates' ids and factors: the sandbox may plan them ahead.
  batchable: true,
  create(options) {
    const random = typeof options.seed === 'number' ? seeded(options.seed) : Math.random;
    let version = -1;
    let sums = new Float64Array(0);
    return {
      pick(nodes) {
        const t = tableOf(nodes);
        if (t) {
          if (t.version !== version) {
            sums = new Float64Array(nodes.length);
            for (let i = 0, sum = 0; i < nodes.length; i++) sums[i] = sum += t.figures[i * t.stride]!;
            version = t.version;
          }
          const point = random() * sums[nodes.length - 1]!;
          // The first candidate whose running total passes the point.
          let lo = 0;
          let hi = nodes.length - 1;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (sums[mid]! > point) hi = mid;
            else lo = mid + 1;
          }
          return nodes[lo]!.id;
        }
        let total = 0;
        for (let i = 0; i < nodes.length; i++) total += nodes[i]!.loadFactor;
        let point = random() * total;
        for (let i = 0; i < nodes.length; i++) {
          point -= nodes[i]!.loadFactor;
          if (point < 0) return nodes[i]!.id;
        }
        return nodes[nodes.length - 1]!.id;
      },
      // Read from the table: loadFactor only (always there).
      usesTable: [],
    };
  },
});
