/**
 * Round robin, smooth and weighted (the nginx method).
 *
 * Contract: over any run of picks among an unchanged candidate set, each node gets picks
 * in proportion to its load factor, and a node's picks are spread out rather than bunched:
 * factors {a: 3, b: 1} give a, a, b, a, then again. Each pick adds every candidate's
 * factor to its running weight, takes the highest (the first on a tie), and takes the
 * total back from the winner. Weights are kept by node id, so candidates that come and
 * go (a node filtered out for a while) do not disturb the others' turns.
 */
import { defineAlgorithm } from 'protobalance';

export default defineAlgorithm({
  name: 'round-robin',
  // Picks depend only on the candidates' ids and factors: the sandbox may plan them ahead.
  batchable: true,
  create() {
    const current = new Map<string, number>();
    return {
      pick(nodes) {
        let total = 0;
        let best = -1;
        let bestWeight = -Infinity;
        for (let i = 0; i < nodes.length; i++) {
          const node = nodes[i]!;
          const weight = (current.get(node.id) ?? 0) + node.loadFactor;
          current.set(node.id, weight);
          total += node.loadFactor;
          if (weight > bestWeight) {
            bestWeight = weight;
            best = i;
          }
        }
        const chosen = nodes[best]!;
        current.set(chosen.id, bestWeight - total);
        if (current.size > nodes.length * 4) {
          // Forget nodes long gone so the map cannot grow without bound.
          const live = new Set(nodes.map((n) => n.id));
          for (const id of current.keys()) if (!live.has(id)) current.delete(id);
        }
        return chosen.id;
      },
    };
  },
});
