// The http deployment: two nginx nodes behind the balancer, for HTTP/1.1 with keep-alive and
// for HTTP/2 cleartext (h2c, prior knowledge). The balancer forwards bytes, so a kept-alive
// connection and an HTTP/2 connection with its streams each stay whole on one node; clients
// (connections) are spread over the nodes in turn.
// nginx before 1.25 speaks only HTTP/2 on a plain-text port marked `http2`, so each node has
// two ports, and the balancer two listeners, each with its own cluster.
// Nodes: node examples/http/start-nodes.mjs   (nginx a on 127.0.0.2, b on 127.0.0.3)
// Run:   npx protobalance start --config examples/http/protobalance.config.ts
// Ports can be moved with PB_HTTP_PORT, PB_H2C_PORT (the balancer), PB_HTTP_NODE_PORT,
// PB_H2C_NODE_PORT (the nodes, for start-nodes.mjs too) and PB_ADMIN_PORT.
import { defineConfig } from 'protobalance';

const httpPort = Number(process.env.PB_HTTP_PORT ?? 8092);
const h2cPort = Number(process.env.PB_H2C_PORT ?? 8093);
const httpNodePort = Number(process.env.PB_HTTP_NODE_PORT ?? 9401);
const h2cNodePort = Number(process.env.PB_H2C_NODE_PORT ?? 9402);
const nodeHosts = { a: '127.0.0.2', b: '127.0.0.3' };
const nodes = (port: number) => Object.entries(nodeHosts).map(([id, host]) => ({ id, address: `${host}:${port}` }));

export default defineConfig({
  listeners: [
    { name: 'http', port: httpPort, host: '127.0.0.1', cluster: 'http1' },
    { name: 'h2c', port: h2cPort, host: '127.0.0.1', cluster: 'h2c' },
  ],
  clusters: {
    http1: { balance: 'round-robin', nodes: nodes(httpNodePort) },
    h2c: { balance: 'round-robin', nodes: nodes(h2cNodePort) },
  },
  connectTimeout: '1s',
  retryInterval: '5s',
  // Longer than nginx's keepalive_timeout (75s): the node, not the balancer, decides when an
  // idle kept-alive connection ends, as it would with no balancer in between.
  idleTimeout: '2m',
  drainTimeout: '5s',
  admin: { host: '127.0.0.1', port: 9192, token: process.env.PB_ADMIN_TOKEN },
  stateDir: './.protobalance',
});
