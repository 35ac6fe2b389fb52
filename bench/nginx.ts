/**
 * nginx in two roles, each its own instance with its own prefix and config:
 * - the stream proxy under test (`load_module` ngx_stream_module, `worker_processes 2`, no
 *   access log, one `server { listen; proxy_pass; }` per service);
 * - the HTTP backend behind every target (`return 200 "<64 bytes>"`, `worker_processes 2`,
 *   `access_log off`): a C server on two workers, so the backend is not what limits a proxy.
 * Both run in the foreground (`daemon off`) so the pid we spawn is the master; their workers
 * are found through the process tree. Paths nginx would otherwise write under /var point
 * into the temp dir, so neither needs root.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HTTP_BODY } from './http-body.ts';
import { absentReason, NGINX_STREAM_MODULE, startExternal, type External, type Tool } from './external.ts';
import { HTTP_PROBE, waitForReply } from './probe.ts';
import { SERVICES, type Addresses, type Launch, type Ports, type ProxyKind } from './proxies.ts';

async function prefix(dir: string, name: string): Promise<{ root: string; conf: string; errorLog: string }> {
  const root = path.join(dir, name);
  await mkdir(root, { recursive: true });
  return { root, conf: path.join(root, 'nginx.conf'), errorLog: path.join(root, 'error.log') };
}

function args(p: { root: string; conf: string; errorLog: string }): string[] {
  // -e: without it nginx opens /var/log/nginx/error.log before reading the config.
  return ['-p', p.root, '-e', p.errorLog, '-c', p.conf];
}

function mainContext(root: string, errorLog: string, fdLimit: number): string {
  return `worker_processes 2;
worker_rlimit_nofile ${fdLimit};
daemon off;
master_process on;
pid ${path.join(root, 'nginx.pid')};
error_log ${errorLog} error;
events { worker_connections ${fdLimit}; }
`;
}

/** nginx stream as the proxy under test. `fdLimit`: each worker's file descriptor allowance. */
export function nginxStream(tool: Tool, fdLimit: number): ProxyKind {
  const missing = absentReason(tool) ?? (!existsSync(NGINX_STREAM_MODULE) ? `nginx stream module not found (${NGINX_STREAM_MODULE})` : undefined);
  return {
    key: 'nginx',
    label: 'nginx',
    missing,
    async prepare(dir: string, ports: Ports, upstreams: Addresses): Promise<Launch> {
      const p = await prefix(dir, `nginx-stream-${ports.echo}`);
      const servers = SERVICES.map((s) => `  server { listen 127.0.0.1:${ports[s]}; proxy_pass ${upstreams[s]}; }`).join('\n');
      await writeFile(
        p.conf,
        `# written by bench/nginx.ts for one benchmark run
load_module ${NGINX_STREAM_MODULE};
${mainContext(p.root, p.errorLog, fdLimit)}
stream {
  access_log off;
${servers}
}
`,
      );
      // SIGTERM is nginx's fast stop; SIGQUIT would wait for clients to leave.
      return { file: tool.path!, args: args(p), stopSignal: 'SIGTERM' };
    },
  };
}

export interface HttpBackend {
  ext: External;
  port: number;
}

/** nginx answering every request with HTTP_BODY; resolves once it answers on `port`. */
export async function startNginxHttp(tool: Tool, dir: string, port: number, fdLimit: number): Promise<HttpBackend> {
  const p = await prefix(dir, 'nginx-http-backend');
  const temp = (name: string) => path.join(p.root, name);
  await writeFile(
    p.conf,
    `# written by bench/nginx.ts: the HTTP backend of the side-by-side benchmark
${mainContext(p.root, p.errorLog, fdLimit)}
http {
  access_log off;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  # The default (1000) would close every keep-alive connection now and then, turning part of
  # the keep-alive phase into new connections.
  keepalive_requests 1000000000;
  keepalive_timeout 5m;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { return 200 ${JSON.stringify(HTTP_BODY)}; }
  }
}
`,
  );
  const ext = startExternal('nginx-http-backend', tool.path!, args(p));
  try {
    await waitForReply(port, HTTP_PROBE, 10_000, () => (ext.exited() ? `nginx HTTP backend exited:\n${ext.output().trim()}` : undefined));
  } catch (err) {
    await ext.stop('SIGKILL', 0);
    throw err;
  }
  return { ext, port };
}
