// The controller deployment: one address in front of two clusters, "blue" (the version in
// service) and "green" (the next one). Pointing the listener at the other cluster sends
// every new client there while the old cluster's connections finish: no client notices.
// Run: npx protobalance start --config examples/controller/protobalance.config.ts
// Switch: npx protobalance route web green --config examples/controller/protobalance.config.ts
import { defineConfig } from 'protobalance';
import demoNodes from '../demo-nodes/plugin.ts';

const host = '127.0.0.1';
const blue = [
  { id: 'blue-1', port: 9201 },
  { id: 'blue-2', port: 9202 },
];
const green = [
  { id: 'green-1', port: 9211 },
  { id: 'green-2', port: 9212 },
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
