/**
 * Pure random, weighted: each pick takes a node with probability loadFactor / total,
 * independently of every earlier pick.
 *
 * Options: `seed` (a number) makes the sequence repeatable (tests, simulations); without
 * it, Math.random is used.
 */
import { defineAlgorithm } from 'protobalance';

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
    return {
      pick(nodes) {
        let total = 0;
        for (let i = 0; i < nodes.length; i++) total += nodes[i]!.loadFactor;
        let point = random() * total;
        for (let i = 0; i < nodes.length; i++) {
          point -= nodes[i]!.loadFactor;
          if (point < 0) return nodes[i]!.id;
        }
        return nodes[nodes.length - 1]!.id;
      },
    };
  },
});
