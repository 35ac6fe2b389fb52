/**
 * Fall-over chains: when a node fails for a connection before any byte passed, the next
 * node dialled is its configured fall-over node (`nodes[].fallover`), then that node's,
 * and so on, skipping nodes that already failed for this client, are not green, or are
 * marked unavailable and not yet due for a retry. When the chain has nothing left, the
 * tap declines and the core asks the cluster's algorithm among the remaining nodes.
 */
import { definePlugin } from 'protobalance';

export default definePlugin({
  name: 'fallover-chain',
  apply(hooks, api) {
    hooks.fallover.tap('fallover-chain', (ctx, failed) => {
      const cluster = api.balancer.cluster(failed.cluster);
      if (!cluster) return undefined;
      const now = Date.now();
      let at = failed;
      for (let steps = 0; at.fallover !== undefined && steps < cluster.nodes.length; steps++) {
        const next = cluster.node(at.fallover);
        if (!next) return undefined;
        if (!ctx.failed.includes(next) && next.state === 'green' && (next.available || next.retryAt <= now)) return next;
        at = next;
      }
      return undefined;
    });
  },
});
