/**
 * The balancer under test, run as a child process of bench/run.ts: `createBalancer` with
 * one cluster of the given backend addresses, silent logs. argv: optional flags, then
 * balance, then one `name=host:port[,host:port…]` per listener (one cluster each; one node
 * per address, ids `name`, `name-1`, `name-2`…). Flags:
 * - `--in-process`: algorithms run by `createInProcessRunner` instead of the sandbox;
 * - `--time-picks`: the chooser is wrapped to time each `pick`, reported with the stats
 *   (`pickMicros`, `picks`); the sandbox runner is then made as the core makes its default
 *   (`createSandboxRunner({ ...config.sandbox, baseDir: config.baseDir })`).
 * Sends `{ type: 'ready', ports }` (listener name → port) over IPC, then answers stats.
 */
import { createBalancer, createInProcessRunner, createSandboxRunner, type AlgorithmRunner, type BalancerOptions, type ClientView, type Config, type NodeView } from '../core/index.ts';
import { serveStats, type ReadyMessage } from './protocol.ts';
import { builtinPlugins } from '../app/builtins.ts';

const args = process.argv.slice(2);
const flags = new Set<string>();
while (args[0]?.startsWith('--')) flags.add(args.shift()!);
const [balance = 'round-robin', ...targets] = args;
const config: Config = { listeners: [], clusters: {}, log: { level: 'silent' } };
for (const t of targets) {
  const [name = '', addresses = ''] = t.split('=');
  config.listeners.push({ port: 0, host: '127.0.0.1', cluster: name, name });
  config.clusters[name] = {
    balance,
    nodes: addresses.split(',').map((address, i) => ({ id: i === 0 ? name : `${name}-${i}`, address })),
  };
}

const timing = { pickMicros: 0, picks: 0 };
function timed(inner: AlgorithmRunner): AlgorithmRunner {
  return {
    async create(module, options, policy) {
      const chooser = await inner.create(module, options, policy);
      return {
        pick(nodes, client) {
          const t0 = performance.now();
          try {
            return chooser.pick(nodes, client);
          } finally {
            timing.pickMicros += (performance.now() - t0) * 1000;
            timing.picks++;
          }
        },
        // Looked up at each call: the sandbox replaces its rank when it restarts an isolate.
        ...(chooser.rank ? { rank: (nodes: readonly NodeView[], client: ClientView) => chooser.rank!(nodes, client) } : {}),
      };
    },
    dispose: () => inner.dispose(),
  };
}

const options: BalancerOptions = {};
if (flags.has('--time-picks')) {
  options.createRunner = (c) => timed(flags.has('--in-process') ? createInProcessRunner() : createSandboxRunner({ ...c.sandbox, baseDir: c.baseDir }));
} else if (flags.has('--in-process')) {
  options.createRunner = () => createInProcessRunner();
}

serveStats(() => timing);
const balancer = createBalancer(config, { ...options, builtins: builtinPlugins() });
const addresses = await balancer.start();
const ready: ReadyMessage = { type: 'ready', ports: Object.fromEntries(addresses.map((a) => [a.listener, a.port])) };
process.send?.(ready);
