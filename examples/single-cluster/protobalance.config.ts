// The single-cluster deployment: one address in front of three nodes. When a node dies,
// the client never sees it: a connection whose node refuses it (or does not answer within
// connectTimeout) is handed to another node before any byte has passed, and the dead node
// is left out until it is retried (retryInterval).
// Nodes: `node examples/single-cluster/node.mjs a 127.0.0.2` (and b on .3, c on .4).
// Run:   npx protobalance start --config examples/single-cluster/protobalance.config.ts
// Ports can be moved with PB_SINGLE_CLUSTER_PORT, PB_SINGLE_CLUSTER_NODE_PORT, PB_ADMIN_PORT.
import { defineConfig } from 'protobalance';

const port = Number(process.env.PB_SINGLE_CLUSTER_PORT ?? 8091);
const nodePort = Number(process.env.PB_SINGLE_CLUSTER_NODE_PORT ?? 9301);

export default defineConfig({
  listeners: [{ name: 'web', port, host: '127.0.0.1', cluster: 'web' }],
  clusters: {
    web: {
      balance: 'round-robin',
      nodes: [
        { id: 'a', address: `127.0.0.2:${nodePort}` },
        { id: 'b', address: `127.0.0.3:${nodePort}` },
        { id: 'c', address: `127.0.0.4:${nodePort}` },
      ],
    },
  },
  connectTimeout: '1s',
  retryInterval: '5s',
  drainTimeout: '5s',
  admin: { host: '127.0.0.1', port: 9191, token: process.env.PB_ADMIN_TOKEN },
  stateDir: './.protobalance',
});
