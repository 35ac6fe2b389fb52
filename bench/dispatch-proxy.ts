/**
 * A minimal two-worker node:cluster proxy (public `net`, `pipe`), for bench/dispatch.ts:
 * the same proxy under each node:cluster scheduling policy, so that only the way new
 * connections reach the workers differs. argv: 'rr' | 'none', listen port, backend port.
 * Reports `{ type: 'ready', ports: { proxy } }` when both workers listen.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import { serveStats, type ReadyMessage } from './protocol.ts';

const [policy = 'none', listenPort = '0', backendPort = '0'] = process.argv.slice(2);

if (cluster.isPrimary) {
  cluster.schedulingPolicy = policy === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  cluster.setupPrimary({ execArgv: ['--no-node-snapshot', '--import', new URL('../bin/sources.js', import.meta.url).href] });
  let listening = 0;
  for (let i = 0; i < 2; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === 2) process.send?.({ type: 'ready', ports: { proxy: Number(listenPort) } } satisfies ReadyMessage);
  });
  serveStats();
} else {
  const ignore = () => {};
  net
    .createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
      const node = net.connect({ port: Number(backendPort), host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
      client.on('error', () => node.destroy());
      node.on('error', () => client.destroy());
      client.on('close', ignore);
      client.pipe(node);
      node.pipe(client);
    })
    .listen(Number(listenPort), '127.0.0.1');
}
