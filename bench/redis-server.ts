/**
 * A throw-away redis-server for the affinity bench (bench/affinity-stores.ts): on a free
 * 127.0.0.1 port, nothing saved (`--save '' --appendonly no`), its working folder a temp
 * dir removed at stop. Started through external.ts, so bench/run.ts kills it on any exit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startExternal } from './external.ts';
import { sampleTree } from './proc-tree.ts';
import { freePort, waitForReply } from './probe.ts';

export interface RedisServer {
  url: string;
  port: number;
  version: string;
  /** CPU time redis-server has used so far (µs; /proc, 10 ms ticks). */
  cpuMicros(): number;
  stop(): Promise<void>;
}

/** The redis-server program on PATH, or undefined when it is not installed. */
export function findRedisServer(): { file: string; version: string } | undefined {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (found.error || found.status !== 0) return undefined;
  const version = /v=([\d.]+)/.exec(found.stdout)?.[1] ?? found.stdout.trim();
  return { file: 'redis-server', version };
}

/** Start one; a port taken between `freePort` and the bind is retried with another. */
export async function startRedisServer(file: string, version: string): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'pb-bench-redis-'));
    const port = await freePort();
    const server = startExternal('redis-server', file, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
    try {
      // Any byte back to a PING means it serves.
      await waitForReply(port, 'PING\r\n', 10_000, () => (server.exited() ? `redis-server exited: ${server.output().trim().split('\n').pop() ?? ''}` : undefined), 10);
      return {
        url: `redis://127.0.0.1:${port}/0`,
        port,
        version,
        cpuMicros: () => sampleTree(server.pid).cpuMicros,
        async stop() {
          await server.stop('SIGTERM', 2_000);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      await server.stop('SIGKILL', 500);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
