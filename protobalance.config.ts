// The demo: three small HTTP nodes (started by the demo plugin) behind the balancer.
// `npm start`, then `curl http://127.0.0.1:8080/` a few times. Ports can be moved with
// PB_DEMO_PORT and PB_DEMO_NODE_PORTS (comma-separated, three of them).
import { defineConfig } from 'protobalance';
import demoNodes from './examples/demo-nodes/plugin.ts';

const host = '127.0.0.1';
const [portA = 9001, portB = 9002, portC = 9003] = (process.env.PB_DEMO_NODE_PORTS ?? '').split(',').filter(Boolean).map(Number);
const demo = [
  { id: 'a', port: portA },
  { id: 'b', port: portB },
  { id: 'c', port: portC },
];

export default defineConfig({
  listeners: [{ port: Number(process.env.PB_DEMO_PORT ?? 8080), host, cluster: 'demo' }],
  clusters: {
    demo: {
      balance: 'round-robin',
      nodes: demo.map((n) => ({ id: n.id, address: `${host}:${n.port}` })),
    },
  },
  connectTimeout: '2s',
  drainTimeout: '5s',
  plugins: [demoNodes({ host, nodes: demo })],
});
