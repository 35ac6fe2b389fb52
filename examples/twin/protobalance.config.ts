// Twin balancers: two balancers over the same three nodes, as a pair behind round-robin
// DNS (or two addresses a client tries in turn). Both hash the client's IP with one
// secret, so they place a client alike; client affinity and node states are shared through
// Redis, so a binding or a Yellow made through one twin holds through the other.
// Run each twin from this folder (PB_TWIN picks its address, admin port and state folder):
//   PB_TWIN=a npx protobalance start      (127.0.0.11:8093, admin 127.0.0.1:9193)
//   PB_TWIN=b npx protobalance start      (127.0.0.12:8093, admin 127.0.0.1:9194)
// Nodes: node ../single-cluster/node.mjs a 127.0.0.2 9302 (and b on .3, c on .4).
import { defineConfig } from 'protobalance';

const twin = process.env.PB_TWIN === 'b' ? 'b' : 'a';
const redis = process.env.PB_TWIN_REDIS ?? 'redis://127.0.0.1:6379/0';
const port = Number(process.env.PB_TWIN_PORT ?? 8093);
const nodePort = Number(process.env.PB_TWIN_NODE_PORT ?? 9302);
const adminPort = Number(process.env[`PB_TWIN_${twin.toUpperCase()}_ADMIN_PORT`] ?? (twin === 'a' ? 9193 : 9194));

export default defineConfig({
  listeners: [{ name: 'web', host: twin === 'a' ? '127.0.0.11' : '127.0.0.12', port, cluster: 'web' }],
  clusters: {
    web: {
      balance: 'client-hash',
      // Twins must share the secret (and the node ids): then they choose alike.
      hashSecret: process.env.PB_HASH_SECRET ?? 'one secret for both twins: change me',
      affinity: { enabled: true, ttl: '30d' },
      nodes: [
        { id: 'a', address: `127.0.0.2:${nodePort}` },
        { id: 'b', address: `127.0.0.3:${nodePort}` },
        { id: 'c', address: `127.0.0.4:${nodePort}` },
      ],
    },
  },
  // Bindings of every cluster with affinity live in Redis, read by both twins.
  affinity: { store: redis },
  // Yellow, Red, load factors, added nodes and routes reach the other twin through Redis.
  fleet: { redis, name: 'twin-example', member: `twin-${twin}` },
  connectTimeout: '1s',
  retryInterval: '5s',
  admin: { host: '127.0.0.1', port: adminPort, token: process.env.PB_ADMIN_TOKEN },
  // Each twin has its own state folder, as two machines would.
  stateDir: `./.protobalance-${twin}`,
});
