/**
 * Narrows the candidates for new connections by state and availability: red nodes take
 * nothing; a node marked unavailable (a failed connect or health check) is skipped until
 * its retry time, when one connection tries it again. Yellow nodes stay in the list: the
 * core never connects a new client to them, but redirects the picks that fall on a yellow
 * node to its fall-over node first (see core/choose.ts), so its share moves there.
 *
 * When every node left is marked unavailable, all of them stay candidates: a client is
 * never refused unheard, so a lone node that restarted is used again at once rather
 * than after the retry interval. The core still never offers a node twice to a client.
 */
import { definePlugin, type BalancerNode } from 'protobalance';

function usable(node: BalancerNode, now: number): boolean {
  return node.state !== 'red' && (node.available || node.retryAt <= now);
}

export default definePlugin({
  name: 'node-state-filter',
  enforce: 'pre',
  apply(hooks) {
    hooks.filterNodes.tap('node-state-filter', (nodes) => {
      const now = Date.now();
      if (nodes.every((n) => usable(n, now))) return nodes;
      const up = nodes.filter((n) => usable(n, now));
      return up.some((n) => n.state === 'green') ? up : nodes.filter((n) => n.state !== 'red');
    });
  },
});
