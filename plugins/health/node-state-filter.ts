/**
 * Keeps only green nodes as candidates for new connections: yellow ones serve their
 * open connections but take no new ones, red ones take nothing.
 */
import { definePlugin } from 'protobalance';

export default definePlugin({
  name: 'node-state-filter',
  enforce: 'pre',
  apply(hooks) {
    hooks.filterNodes.tap('node-state-filter', (nodes) =>
      nodes.every((n) => n.state === 'green') ? nodes : nodes.filter((n) => n.state === 'green'),
    );
  },
});
