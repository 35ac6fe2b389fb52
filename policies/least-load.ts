/**
 * Least load: active connections per unit of load factor. Lower is less loaded, so a
 * node with factor 2 is given twice the connections of a node with factor 1.
 */
import { definePolicy } from 'protobalance';

export default definePolicy({
  name: 'least-load',
  rate: (node) => node.activeConnections / node.loadFactor,
});
