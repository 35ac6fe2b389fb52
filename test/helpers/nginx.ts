/**
 * Real nginx nodes for tests, started by the http example's own script
 * (examples/http/start-nodes.mjs) on free ports, and curl as the real HTTP client.
 * nginx is required: a test that needs it fails with a clear message when it is missing.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, watch, type Running } from './cli.ts';
import { freePort, withTimeout } from './net.ts';
import { tmpDir } from './tmp.ts';

export const HTTP_EXAMPLE = path.join(ROOT, 'examples', 'http');
export const HTTP_NODE_IDS = ['a', 'b'] as const;

/** The nginx binary the example script will find (same search), or an error saying what to install. */
export function requireNginx(): string {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'nginx'));
  const candidates = [process.env.NGINX, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', ...onPath];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error('this test needs nginx (Debian: apt-get install nginx; .ci/run installs it), or NGINX=/path/to/nginx');
  return found;
}

export interface HttpNodes {
  /** Port of every node's HTTP/1.1 listener (127.0.0.2 and 127.0.0.3). */
  httpPort: number;
  /** Port of every node's h2c (HTTP/2 prior knowledge) listener. */
  h2cPort: number;
  /** The script's folder: www/big.bin and each node's prefix (a/, b/) with its access.log. */
  dir: string;
  /** sha256 of /big.bin, as the script printed it. */
  bigSha256: string;
  script: Running;
  stop(): Promise<void>;
}

/** One access-log line of the example's `conn` format. */
export interface AccessEntry {
  connection: number;
  connectionRequests: number;
  protocol: string;
  request: string;
  status: number;
  bytes: number;
}

/** A node's access log, parsed (the format is set in start-nodes.mjs). */
export function accessLog(nodes: HttpNodes, id: string): AccessEntry[] {
  const file = path.join(nodes.dir, id, 'access.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const m = /^(\d+) (\d+) (\S+) "([^"]*)" (\d+) (\d+)$/.exec(line);
      if (!m) return [];
      return [{ connection: Number(m[1]), connectionRequests: Number(m[2]), protocol: m[3]!, request: m[4]!, status: Number(m[5]), bytes: Number(m[6]) }];
    });
}

/** The example's two nginx nodes on ports free on 127.0.0.2-3 (a few pairs tried). */
export async function startHttpNodes(): Promise<HttpNodes> {
  requireNginx();
  const base = tmpDir();
  // Run as root, nginx's workers are `nobody`: they must reach the files (mkdtemp makes 0700).
  chmodSync(base, 0o755);
  const dir = path.join(base, 'nodes');
  const failures: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const [httpPort, h2cPort] = [await freePort(), await freePort()];
    const env = { ...process.env, PB_HTTP_NODE_PORT: String(httpPort), PB_H2C_NODE_PORT: String(h2cPort), PB_HTTP_NODES_DIR: dir };
    const script = watch(spawn(process.execPath, [path.join(HTTP_EXAMPLE, 'start-nodes.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    const nodes: HttpNodes = { httpPort, h2cPort, dir, bigSha256: '', script, stop: () => stopHttpNodes(nodes) };
    try {
      await script.waitForOutput('nodes ready', 60_000);
      nodes.bigSha256 = /big\.bin sha256 ([0-9a-f]{64})/.exec(script.stdout())?.[1] ?? '';
      return nodes;
    } catch (err) {
      failures.push((err as Error).message);
      await stopHttpNodes(nodes);
    }
  }
  throw new Error(`the nginx nodes did not start:\n${failures.join('\n')}`);
}

/** SIGTERM to the script (it stops its nginx), then SIGKILL to any nginx master still alive. */
async function stopHttpNodes(nodes: HttpNodes): Promise<void> {
  const { script } = nodes;
  if (script.child.exitCode === null && script.child.signalCode === null) script.child.kill('SIGTERM');
  await withTimeout(script.exited, 15_000, 'start-nodes.mjs to exit').catch(() => script.child.kill('SIGKILL'));
  for (const id of HTTP_NODE_IDS) {
    const pidFile = path.join(nodes.dir, id, 'nginx.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      if (pid > 0) process.kill(pid, 'SIGKILL'); // the nginx master this test started, by its id
    } catch {
      // already gone: the normal case
    }
  }
}

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** curl with `args`, bounded by `ms`; a non-zero exit is returned, not thrown. */
export function curl(args: string[], ms = 60_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: ms, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}
