// The simplest deployment: one local port forwarded to one remote service. No balancing,
// but a central point of redirection you can change on the fly, with no restart: edit the
// relay's `address` below and save (the file is watched), or add and remove nodes from the
// CLI (`protobalance node smtp/<id> add <host:port>`, `… remove`). Open sessions stay where
// they are; new connections go to the new address.
// Run: npx protobalance start --config examples/single-port-forward/protobalance.config.ts
// Env: PB_SMTP_RELAY (the relay, default 127.0.0.1:25), PB_FORWARD_PORT (the local port,
// default 2525), PB_ADMIN_PORT (the admin API, default 9100).
import { defineConfig } from 'protobalance';

export default defineConfig({
  listeners: [{ name: 'smtp', port: Number(process.env.PB_FORWARD_PORT ?? 2525), host: '127.0.0.1', cluster: 'smtp' }],
  clusters: {
    smtp: { nodes: [{ id: 'relay', address: process.env.PB_SMTP_RELAY ?? '127.0.0.1:25' }] },
  },
  connectTimeout: '3s',
  // The CLI's node commands talk to this API; the token is written to .protobalance/admin-token.
  admin: { host: '127.0.0.1', port: 9100, token: process.env.PB_ADMIN_TOKEN },
  stateDir: './.protobalance',
});
