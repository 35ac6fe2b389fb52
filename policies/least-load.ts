/**
 * Least load: the number of open connections. The balancer divides every rating by the
 * node's load factor, so a node with factor 2 is given twice the connections of one
 * with factor 1. Use with `balance: 'policy:./policies/least-load.ts'`.
 */
import { definePolicy } from 'protobalance';

export default definePolicy({
  name: 'least-load',
  rate: (node) => node.activeConnections,
});
