/**
 * A real HAProxy (Debian's package) for tests: `mode tcp` frontends on free loopback ports,
 * each with a one-server backend, run in the foreground (`haproxy -db -f cfg`, as
 * bench/haproxy.ts runs it) from a config in a temporary folder. A route may carry server
 * options (`send-proxy`, `send-proxy-v2`: HAProxy writes a PROXY protocol header to its
 * server first). HAProxy is required: a test that needs it fails with a clear message
 * when it is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { watch, type Running } from './cli.ts';
import { freePort, withTimeout } from './net.ts';
import { tmpDir } from './tmp.ts';

/** The haproxy binary, or an error saying what to install. */
export function requireHaproxy(): string {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'haproxy'));
  const found = [process.env.HAPROXY, '/usr/sbin/haproxy', '/usr/local/sbin/haproxy', ...onPath].find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error('this test needs haproxy (Debian: apt-get install haproxy; .ci/run installs it), or HAPROXY=/path/to/haproxy');
  return found;
}

export interface HaproxyRoute {
  /** Frontend name: letters, digits, `_`. */
  name: string;
  /** Where the backend's one server is: `host:port`. */
  server: string;
  /** Options of that server line, e.g. `send-proxy-v2`. */
  serverOptions?: string;
}

export interface Haproxy {
  /** The port of each route's frontend on 127.0.0.1, by route name. */
  ports: Record<string, number>;
  process: Running;
  configFile: string;
  stop(): Promise<void>;
}

function configText(routes: HaproxyRoute[], ports: Record<string, number>): string {
  const blocks = routes.map(
    (r) => `frontend fe_${r.name}
  bind 127.0.0.1:${ports[r.name]}
  default_backend be_${r.name}

backend be_${r.name}
  server ${r.name} ${r.server}${r.serverOptions ? ` ${r.serverOptions}` : ''}
`,
  );
  // One thread: tests are small, and the 2 CPUs here are shared.
  return `# written by test/helpers/haproxy.ts
global
  nbthread 1
  maxconn 256

defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s

${blocks.join('\n')}`;
}

/**
 * Resolves once something holds 127.0.0.1:port, bounded by `ms`. It tries to bind the
 * port rather than connect to it: a connection would make HAProxy dial its server, which
 * would see one connection (and header) more than the test made.
 */
async function bound(port: number, ms: number, run: Running): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) break;
    const taken = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (taken) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`haproxy does not listen on 127.0.0.1:${port}; stderr: ${run.stderr()}`);
}

/**
 * HAProxy with `routes`, each on its own free port; resolves once every frontend listens.
 * A port taken between its choice and HAProxy's bind (by another test, or this probe) makes
 * HAProxy exit: then again with new ports, a few times.
 */
export async function startHaproxy(routes: HaproxyRoute[]): Promise<Haproxy> {
  const bin = requireHaproxy();
  const failures: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bin, routes);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  throw new Error(`haproxy did not start:\n${failures.join('\n')}`);
}

async function startOnce(bin: string, routes: HaproxyRoute[]): Promise<Haproxy> {
  const dir = tmpDir();
  const ports: Record<string, number> = {};
  for (const r of routes) ports[r.name] = await freePort();
  const configFile = path.join(dir, 'haproxy.cfg');
  writeFileSync(configFile, configText(routes, ports));
  const check = spawn(bin, ['-c', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const checked = await withTimeout(watch(check).exited, 15_000, 'haproxy -c');
  if (checked.code !== 0) throw new Error(`haproxy refuses its config: ${checked.stdout}${checked.stderr}`);
  const run = watch(spawn(bin, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const stop = async () => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM'); // by its pid: the one we spawned
    await withTimeout(run.exited, 10_000, 'haproxy to exit').catch(() => run.child.kill('SIGKILL'));
  };
  try {
    for (const r of routes) await bound(ports[r.name]!, 10_000, run);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, process: run, configFile, stop };
}
