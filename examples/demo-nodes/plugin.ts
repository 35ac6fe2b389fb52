/**
 * Demo plugin: starts small HTTP servers that stand in for a cluster's nodes, each
 * answering with its own id, so `curl` through the balancer shows which node served it.
 * Servers are shared across config generations (counted), so a reload keeps them up: the
 * next generation takes them before the previous one lets go.
 */
import http from 'node:http';
import { definePlugin } from 'protobalance';

export interface DemoNode {
  id: string;
  port: number;
}

/**
 * The servers, by port. Kept on globalThis, not in a module variable: the config (and this
 * plugin with it) is bundled and imported afresh on every reload, so each generation has
 * its own copy of this module, and a module-level map would start empty and try to listen
 * again on the ports the previous generation still holds (EADDRINUSE).
 */
const REGISTRY = Symbol.for('protobalance.example.demo-nodes');
type Registry = Map<number, { server: http.Server; users: number }>;
const running: Registry = ((globalThis as Record<symbol, unknown>)[REGISTRY] as Registry | undefined) ?? new Map();
(globalThis as Record<symbol, unknown>)[REGISTRY] = running;

function startNode(host: string, node: DemoNode): Promise<void> {
  const entry = running.get(node.port);
  if (entry) {
    entry.users++;
    return Promise.resolve();
  }
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('x-demo-node', node.id);
    res.end(`Hello from demo node ${node.id} (${host}:${node.port}), you asked for ${req.method} ${req.url}\n`);
  });
  running.set(node.port, { server, users: 1 });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      running.delete(node.port);
      reject(new Error(`demo node ${node.id} cannot listen on ${host}:${node.port}: ${err.message}`));
    });
    server.listen(node.port, host, () => resolve());
  });
}

function stopNode(port: number): Promise<void> {
  const entry = running.get(port);
  if (!entry || --entry.users > 0) return Promise.resolve();
  running.delete(port);
  entry.server.closeAllConnections();
  return new Promise((resolve) => entry.server.close(() => resolve()));
}

export default definePlugin((options: { host: string; nodes: DemoNode[] }) => ({
  name: 'demo-nodes',
  apply(hooks, api) {
    // The demo nodes listen on fixed ports: one process of the group runs them.
    if (api.role !== 'primary') return;
    hooks.init.tapPromise('demo-nodes', async () => {
      await Promise.all(options.nodes.map((n) => startNode(options.host, n)));
      api.logger.info({ nodes: options.nodes }, 'demo nodes up');
    });
    hooks.listening.tap('demo-nodes', (addresses) => {
      for (const a of addresses) process.stdout.write(`Demo: try  curl http://${a.host}:${a.port}/  (repeat it to see the nodes take turns)\n`);
    });
    hooks.shutdown.tapPromise('demo-nodes', async () => {
      await Promise.all(options.nodes.map((n) => stopNode(n.port)));
    });
  },
}));
