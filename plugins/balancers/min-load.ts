/**
 * Minimum load by a custom load-rating function (`balance: 'policy:./policies/x.ts'`).
 *
 * Contract: the user's policy rates each candidate (lower = less loaded); the lowest
 * rating per load factor (rating / loadFactor) wins, so a node with twice the factor
 * may carry twice the load before it loses. Ratings that are not finite numbers take the
 * node out of this choice. Ties (equal within one part in a billion) are broken by
 * rotation, so equally loaded nodes take turns instead of the first always winning.
 * A policy that rates no node with a finite number fails the pick (the host falls back).
 */
import { defineAlgorithm } from 'protobalance';

export default defineAlgorithm({
  name: 'policy',
  create(options) {
    const policy = options.policy;
    if (!policy) throw new Error('the policy algorithm needs a policy module');
    let turn = 0;
    return {
      pick(nodes, client) {
        let best = Infinity;
        const tied: string[] = [];
        for (const node of nodes) {
          const rating = policy.rate(node, client);
          if (typeof rating !== 'number' || !Number.isFinite(rating)) continue;
          const score = rating / node.loadFactor;
          const tolerance = best === Infinity ? 0 : Math.max(Math.abs(best), Math.abs(score)) * 1e-9;
          if (score < best - tolerance) {
            best = score;
            tied.length = 0;
            tied.push(node.id);
          } else if (Math.abs(score - best) <= tolerance) tied.push(node.id);
        }
        if (tied.length === 0) throw new Error(`policy "${policy.name}" rated no node with a finite number`);
        return tied[turn++ % tied.length];
      },
    };
  },
});
