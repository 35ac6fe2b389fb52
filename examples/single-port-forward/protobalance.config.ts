// The simplest deployment: one local port forwarded to one remote service. No balancing,
// but a central point of redirection you can change on the fly.
// Run: npx protobalance start --config examples/single-port-forward/protobalance.config.ts
import { defineConfig } from 'protobalance';

export default defineConfig({
  listeners: [{ port: 2525, host: '127.0.0.1', cluster: 'smtp' }],
  clusters: {
    smtp: { nodes: [{ id: 'relay', address: process.env.PB_SMTP_RELAY ?? '127.0.0.1:25' }] },
  },
  connectTimeout: '3s',
});
