/**
 * Connect-latency aware: open connections weighted by how slowly the node last accepted
 * a connection, so a node that answers slowly (overloaded, far away) gets fewer new
 * clients, and a node with recent connect failures is avoided until it recovers.
 */
import { definePolicy } from 'protobalance';

export default definePolicy({
  name: 'latency-aware',
  rate: (node) => (node.activeConnections + 1) * (1 + node.connectLatency / 10) * (1 + node.recentFailures),
});
