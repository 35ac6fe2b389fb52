/**
 * A real redis-server (Debian's package) on a free loopback port, with its data in a
 * temporary folder and no persistence: a kill loses everything, as a Redis restarted
 * without a dump would. Tests kill and restart it to see balancers ride out the outage.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './net.ts';
import { tmpDir } from './tmp.ts';

export const HAVE_REDIS = spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;
export const NO_REDIS = 'redis-server is not installed (.ci/run installs it with apt-get: redis-server)';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = tmpDir();

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    if (!HAVE_REDIS) throw new Error(NO_REDIS);
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Start it (again) on the same port; resolves once it answers PING (at most 5 s). */
  async restart(): Promise<void> {
    if (this.running) return;
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    const probe = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      const deadline = Date.now() + 5_000;
      for (;;) {
        try {
          if (probe.status !== 'ready') await probe.connect();
          if ((await probe.ping()) === 'PONG') return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 5 s: ${String(err)}`);
          await sleep(50);
        }
      }
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL: no goodbye to its clients, and its data is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** A plain client, for looking at what balancers stored (disconnect it when done). */
  client(): Redis {
    const r = new Redis({ port: this.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    r.on('error', () => {});
    return r;
  }
}
