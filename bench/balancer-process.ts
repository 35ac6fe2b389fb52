/**
 * The balancer under test, run as a child process of bench/run.ts: `createBalancer` with
 * one cluster of the given backend addresses, silent logs. argv: balance, then one
 * `name=host:port` per listener (one cluster each, one node). Sends
 * `{ type: 'ready', ports }` (listener name → port) over IPC, then answers stats.
 */
import { createBalancer, type Config } from '../core/index.ts';
import { serveStats, type ReadyMessage } from './protocol.ts';

const [balance = 'round-robin', ...targets] = process.argv.slice(2);
const config: Config = { listeners: [], clusters: {}, log: { level: 'silent' } };
for (const t of targets) {
  const [name = '', address = ''] = t.split('=');
  config.listeners.push({ port: 0, host: '127.0.0.1', cluster: name, name });
  config.clusters[name] = { balance, nodes: [{ id: name, address }] };
}

serveStats();
const balancer = createBalancer(config);
const addresses = await balancer.start();
const ready: ReadyMessage = { type: 'ready', ports: Object.fromEntries(addresses.map((a) => [a.listener, a.port])) };
process.send?.(ready);
