// The controller deployment: one address in front of two clusters, "blue" (the version in
// service) and "green" (the next one). Pointing the listener at the other cluster sends
// every new client there while the old cluster's connections finish: no client notices.
// Run: npx protobalance start --config examples/controller/protobalance.config.ts
// Switch: npx protobalance route web green --config examples/controller/protobalance.config.ts
// Back:   npx protobalance route web blue --config examples/controller/protobalance.config.ts
// Ports can be moved with PB_CONTROLLER_PORT (the listener), PB_CONTROLLER_ADMIN_PORT (the
// admin API) and PB_CONTROLLER_NODE_PORTS (comma-separated: blue-1, blue-2, green-1, green-2).
import { defineConfig } from 'protobalance';
import demoNodes from '../demo-nodes/plugin.ts';

const host = '127.0.0.1';
const [blue1 = 9201, blue2 = 9202, green1 = 9211, green2 = 9212] = (process.env.PB_CONTROLLER_NODE_PORTS ?? '').split(',').filter(Boolean).map(Number);
const blue = [
  { id: 'blue-1', port: blue1 },
  { id: 'blue-2', port: blue2 },
];
const green = [
  { id: 'green-1', port: green1 },
  { id: 'green-2', port: green2 },
];
const nodes = (list: typeof blue) => list.map((n) => ({ id: n.id, address: `${host}:${n.port}` }));

export default defineConfig({
  listeners: [{ name: 'web', port: Number(process.env.PB_CONTROLLER_PORT ?? 8090), host, cluster: 'blue' }],
  clusters: {
    blue: { balance: 'round-robin', nodes: nodes(blue) },
    green: { balance: 'round-robin', nodes: nodes(green) },
  },
  admin: { port: Number(process.env.PB_CONTROLLER_ADMIN_PORT ?? 9190), token: process.env.PB_ADMIN_TOKEN },
  stateDir: './.protobalance',
  drainTimeout: '30s',
  // Stand-in nodes that answer with their id, so curl shows which cluster served it.
  plugins: [demoNodes({ host, nodes: [...blue, ...green] })],
});
