/**
 * nginx (Debian's package) as a real PROXY protocol reader: one HTTP server on a free
 * loopback port with `listen ... proxy_protocol`, whose access log has, per request, the
 * addresses of the PROXY header it read (`$proxy_protocol_addr`, `$proxy_protocol_port`,
 * and the destination, `$proxy_protocol_server_addr` / `_port`) beside the socket's own
 * peer (`$remote_addr`). Its page says the same, so a client sees what nginx read.
 * Found as test/helpers/nginx.ts finds it (`requireNginx`), run as examples/http runs its
 * nodes: in the foreground, everything under its own prefix in a temporary folder.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { watch, type Running } from '../../helpers/cli.ts';
import { freePort, withTimeout } from '../../helpers/net.ts';
import { requireNginx } from '../../helpers/nginx.ts';
import { tmpDir } from '../../helpers/tmp.ts';

export interface ProxyLogEntry {
  address: string;
  port: number;
  serverAddress: string;
  serverPort: number;
  remoteAddress: string;
  request: string;
  status: number;
}

export interface NginxReader {
  port: number;
  dir: string;
  process: Running;
  /** The access log so far, one entry per request. */
  log(): ProxyLogEntry[];
  stop(): Promise<void>;
}

/** nginx's temporary folders, all under the prefix (the defaults are system paths). */
const TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];

function conf(prefix: string, port: number): string {
  return `# written by test/plugins/proxy-protocol/nginx-reader.ts
daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 64; }
http {
  log_format pp '$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port $remote_addr "$request" $status';
  access_log ${prefix}/access.log pp;
${TEMP_PATHS.map((kind) => `  ${kind}_temp_path ${prefix}/tmp/${kind};`).join('\n')}
  server {
    listen 127.0.0.1:${port} proxy_protocol;
    location / {
      default_type text/plain;
      return 200 "proxy_protocol_addr=$proxy_protocol_addr proxy_protocol_port=$proxy_protocol_port\\n";
    }
  }
}
`;
}

function parseLog(file: string): ProxyLogEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const m = /^(\S+) (\S+) (\S+) (\S+) (\S+) "([^"]*)" (\d+)$/.exec(line);
      if (!m) return [];
      return [{ address: m[1]!, port: Number(m[2]), serverAddress: m[3]!, serverPort: Number(m[4]), remoteAddress: m[5]!, request: m[6]!, status: Number(m[7]) }];
    });
}

/** Resolves once nginx's error log says it is ready to serve; bounded by `ms`. */
async function ready(prefix: string, run: Running, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const errorLog = path.join(prefix, 'error.log');
  while (Date.now() < deadline && run.child.exitCode === null && run.child.signalCode === null) {
    // "start worker process" is logged (at notice) once the listening socket is open.
    if (existsSync(errorLog) && readFileSync(errorLog, 'utf8').includes('start worker process')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const errors = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
  throw new Error(`nginx did not start: ${run.stderr()} ${errors}`);
}

/** An nginx reading the PROXY protocol on a free port of 127.0.0.1 (a few ports tried). */
export async function startNginxReader(): Promise<NginxReader> {
  const bin = requireNginx();
  const base = tmpDir();
  // Run as root, nginx's workers are `nobody`: they must reach the folder (mkdtemp makes 0700).
  chmodSync(base, 0o755);
  const failures: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const prefix = path.join(base, `try-${attempt}`);
    mkdirSync(path.join(prefix, 'tmp'), { recursive: true, mode: 0o755 });
    const port = await freePort();
    const file = path.join(prefix, 'nginx.conf');
    writeFileSync(file, conf(prefix, port));
    // -e: errors before the config is read go to stderr, not to a system log path.
    const run = watch(spawn(bin, ['-e', 'stderr', '-p', `${prefix}/`, '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const stop = async () => {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGQUIT'); // the master we spawned, by its pid
      await withTimeout(run.exited, 10_000, 'nginx to exit').catch(() => run.child.kill('SIGKILL'));
    };
    try {
      await ready(prefix, run, 10_000);
      return { port, dir: prefix, process: run, log: () => parseLog(path.join(prefix, 'access.log')), stop };
    } catch (err) {
      failures.push((err as Error).message);
      await stop();
    }
  }
  throw new Error(`nginx did not start:\n${failures.join('\n')}`);
}
