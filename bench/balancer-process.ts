/**
 * The balancer under test, run as a child process of bench/run.ts: `createBalancer` with
 * one cluster of the given backend addresses, silent logs. argv: optionally
 * `--in-process` (algorithms run by `createInProcessRunner` instead of the default
 * sandbox), then balance, then one `name=host:port[,host:port…]` per listener (one
 * cluster each; one node per address, ids `name`, `name-1`, `name-2`…). Sends
 * `{ type: 'ready', ports }` (listener name → port) over IPC, then answers stats.
 */
import { createBalancer, createInProcessRunner, type Config } from '../core/index.ts';
import { serveStats, type ReadyMessage } from './protocol.ts';

const args = process.argv.slice(2);
const inProcess = args[0] === '--in-process';
const [balance = 'round-robin', ...targets] = inProcess ? args.slice(1) : args;
const config: Config = { listeners: [], clusters: {}, log: { level: 'silent' } };
for (const t of targets) {
  const [name = '', addresses = ''] = t.split('=');
  config.listeners.push({ port: 0, host: '127.0.0.1', cluster: name, name });
  config.clusters[name] = {
    balance,
    nodes: addresses.split(',').map((address, i) => ({ id: i === 0 ? name : `${name}-${i}`, address })),
  };
}

serveStats();
const balancer = createBalancer(config, inProcess ? { createRunner: () => createInProcessRunner() } : {});
const addresses = await balancer.start();
const ready: ReadyMessage = { type: 'ready', ports: Object.fromEntries(addresses.map((a) => [a.listener, a.port])) };
process.send?.(ready);
