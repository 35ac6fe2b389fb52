/**
 * The files `protobalance init` writes into a user's project (see init.ts). They are
 * chosen so that, right after init, `npx protobalance start` serves and
 * `curl http://127.0.0.1:8080/` is answered: the config's two nodes are small HTTP
 * servers started by a local demo plugin. The config reads `process.env`, typed by the
 * Node types protobalance's declarations bring along; the plugin is plain JavaScript,
 * outside the type check.
 */

/** One generated file: its path relative to the project, its text, and what it is for. */
export interface InitTemplate {
  path: string;
  text: string;
  about: string;
}

export const CONFIG_TEMPLATE = `// The Proto Balance config, written by \`npx protobalance init\`.
//
//   npx protobalance start    run the balancer on this file (edits of it apply live)
//   npx protobalance check    validate it and print it resolved
//
// Every field: node_modules/protobalance/README.md ("Configuration"). Plugins:
// node_modules/protobalance/docs/plugins.md. Load-rating policies:
// node_modules/protobalance/docs/policies.md.
import { defineConfig, type NodeConfig } from 'protobalance';

// Ports can be moved without an edit: PB_PORT=8081 PB_NODE_PORTS=9101,9102 npx protobalance start
const host = '127.0.0.1';
const port = Number(process.env.PB_PORT ?? 8080);
const [portA = 9001, portB = 9002] = (process.env.PB_NODE_PORTS ?? '').split(',').filter(Boolean).map(Number);

// The nodes (backends). id: a stable name, used by \`npx protobalance status\` and
// \`npx protobalance node web/a yellow\`; address: 'host:port'; loadFactor: the node's
// share relative to the others (default 1). Typed, so that a misspelt field is caught
// here too (\`npx tsc --noEmit\`), as it is inside defineConfig.
const nodes: NodeConfig[] = [
  { id: 'a', address: \`\${host}:\${portA}\` },
  { id: 'b', address: \`\${host}:\${portB}\`, loadFactor: 1 },
];

export default defineConfig({
  // Where clients connect. Each listener hands its clients to one cluster; host is the
  // interface to bind ('0.0.0.0' for every one).
  listeners: [{ port, host, cluster: 'web' }],
  clusters: {
    web: {
      // How each new client's node is chosen: here the node that policies/least-load.ts
      // rates lowest (edit that file while the balancer runs: the change applies live).
      // Built in instead: 'round-robin', 'random', 'client-hash', 'connection-rate',
      // 'traffic-rate'. For instance:
      // balance: 'round-robin',
      balance: 'policy:./policies/least-load.ts',
      nodes,
    },
  },
  // Longest wait for a node to accept a connection.
  connectTimeout: '2s',
  // How long Ctrl-C (SIGTERM) lets open connections finish before closing them.
  drainTimeout: '5s',
  // The admin API (\`npx protobalance status\`, \`node\`, \`route\`, \`reload\`, and the dashboard
  // at http://127.0.0.1:9100/dashboard) runs by default on 127.0.0.1:9100, with its token in
  // .protobalance/admin-token (keep that folder out of version control). Move it, or turn it
  // off with \`admin: false\`:
  // admin: { host: '127.0.0.1', port: 9100 },
  //
  // Plugins: package names ('foo' means 'protobalance-plugin-foo'), local files, or
  // [name, options]. hello-nodes starts two small HTTP servers standing in for nodes a and
  // b, so that \`curl http://127.0.0.1:8080/\` is answered at once: remove it (and
  // plugins/hello-nodes.mjs) once the nodes are your real servers.
  plugins: [['./plugins/hello-nodes.mjs', { nodes }]],
});
`;

export const POLICY_TEMPLATE = `// A load-rating policy, written by \`npx protobalance init\`. Cluster \`web\` of
// protobalance.config.ts uses it: \`balance: 'policy:./policies/least-load.ts'\`.
//
// For each new client the balancer calls \`rate\` for every available node and sends the
// client to the lowest rating divided by the node's loadFactor (equal ones take turns).
// A policy is pure: it runs in a sandbox that has JavaScript's own globals only (no
// require, process, console, timers or I/O), within a CPU time limit. If it throws or
// runs too long, that client goes round robin instead and the log names the file and
// line. Edits apply live. What \`node\` and \`client\` hold:
// node_modules/protobalance/docs/policies.md.
import { definePolicy } from 'protobalance';

export default definePolicy({
  name: 'least-load',
  // The node's open connections (counted over every process of the balancer). Also there:
  // node.connectionRate, node.bytesRate, node.connectLatency, node.recentFailures,
  // node.metrics.<name> (from a load probe); client.address, client.port, client.listener.
  rate: (node) => node.activeConnections,
});
`;

export const PLUGIN_TEMPLATE = `// A demo plugin, written by \`npx protobalance init\`: it starts one small HTTP server for
// each node given in its options, answering with the node's id, so that
// \`curl http://127.0.0.1:8080/\` through the balancer shows which node served it.
// Remove it from \`plugins\` in protobalance.config.ts (and delete this file) once your
// nodes are real servers. How plugins work: node_modules/protobalance/docs/plugins.md.
//
// Plain JavaScript, outside the type check: a plugin a user writes in TypeScript works
// as well (docs/plugins.md).
import http from 'node:http';
import { definePlugin } from 'protobalance';

// The running servers by port, with how many config generations use each. Kept on
// globalThis: every reload loads this file afresh (a new module), and the servers the
// serving generation started must be found again rather than opened twice.
const running = (globalThis[Symbol.for('protobalance-init.hello-nodes')] ??= new Map());

/** @param {{ id: string, address: string }} node @param {{ warn: Function }} logger */
function start(node, logger) {
  const at = node.address.lastIndexOf(':');
  const host = node.address.slice(0, at);
  const port = Number(node.address.slice(at + 1));
  const entry = running.get(port);
  if (entry) {
    entry.users++;
    return Promise.resolve();
  }
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(\`Hello from node \${node.id} (\${node.address}), you asked for \${req.method} \${req.url}\\n\`);
  });
  running.set(port, { server, users: 1 });
  return new Promise((resolve) => {
    server.once('error', (err) => {
      // Not fatal: another process (a running balancer, when this is \`check\`) may have it.
      running.delete(port);
      logger.warn({ node: node.id, address: node.address, err: err.message }, 'hello node not started');
      resolve();
    });
    server.listen(port, host, () => resolve());
  });
}

/** @param {number} port */
function stop(port) {
  const entry = running.get(port);
  if (!entry || --entry.users > 0) return Promise.resolve();
  running.delete(port);
  entry.server.closeAllConnections();
  return new Promise((resolve) => entry.server.close(() => resolve()));
}

export default definePlugin((/** @type {{ nodes: { id: string, address: string }[] }} */ options) => ({
  name: 'hello-nodes',
  apply(hooks, api) {
    // The nodes listen on fixed ports: one process of the balancer runs them.
    if (api.role !== 'primary') return;
    const ports = options.nodes.map((n) => Number(n.address.slice(n.address.lastIndexOf(':') + 1)));
    hooks.init.tapPromise('hello-nodes', async () => {
      await Promise.all(options.nodes.map((n) => start(n, api.logger)));
    });
    hooks.listening.tap('hello-nodes', (addresses) => {
      const nodes = options.nodes.map((n) => \`\${n.id} on \${n.address}\`).join(', ');
      for (const a of addresses) process.stdout.write(\`hello-nodes: \${nodes}; try  curl http://\${a.host}:\${a.port}/\\n\`);
    });
    hooks.shutdown.tapPromise('hello-nodes', async () => {
      await Promise.all(ports.map(stop));
    });
  },
}));
`;

export const TSCONFIG_TEMPLATE = `{
  // The config, policies and plugins are bundled (esbuild) when Proto Balance loads them,
  // never run by Node as written: "preserve" + "bundler" checks them that way, whether this
  // package.json says "type": "module" or "commonjs". "plugins" is included so that a
  // plugin written in TypeScript there is checked, and its fields (declare module) are
  // known to the config; .mjs / .js files stay outside the check.
  "compilerOptions": {
    "module": "preserve",
    "moduleResolution": "bundler",
    "target": "es2022",
    "lib": ["es2022"],
    "types": [],
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["protobalance.config.ts", "policies", "plugins"]
}
`;

/** Every file init writes, in the order it lists them. */
export const INIT_TEMPLATES: readonly InitTemplate[] = [
  { path: 'protobalance.config.ts', text: CONFIG_TEMPLATE, about: 'the config: 127.0.0.1:8080 -> cluster web (nodes a, b)' },
  { path: 'policies/least-load.ts', text: POLICY_TEMPLATE, about: 'the load-rating policy cluster web balances by' },
  { path: 'plugins/hello-nodes.mjs', text: PLUGIN_TEMPLATE, about: 'demo plugin: HTTP servers standing in for nodes a and b' },
  { path: 'tsconfig.json', text: TSCONFIG_TEMPLATE, about: 'type-checks the config, policies and TypeScript plugins (npx tsc --noEmit)' },
];
