/**
 * Reported load: the node's own figure (its CPU, its queue length) from a load probe,
 * e.g. `probe: { url: 'http://10.0.0.1:9000/load', metric: 'load' }` on the node. Until
 * a first figure arrives, open connections stand in for it.
 */
import { definePolicy } from 'protobalance';

export default definePolicy({
  name: 'reported-load',
  rate: (node) => node.metrics.load ?? node.activeConnections,
});
