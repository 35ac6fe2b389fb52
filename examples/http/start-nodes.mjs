// The two nodes of the http example: real nginx servers, node a on 127.0.0.2 and node b on
// 127.0.0.3, each with two ports: HTTP/1.1 (keep-alive) and HTTP/2 cleartext with prior
// knowledge (h2c). nginx before 1.25 cannot serve both on one plain-text port: a port
// marked `http2` without TLS speaks HTTP/2 only, hence two ports and two clusters.
// Both serve the same 20 MB file (/big.bin, its sha256 in /big.bin.sha256) and a small
// page naming the node (/).
//   node examples/http/start-nodes.mjs
// Ports: PB_HTTP_NODE_PORT (9401), PB_H2C_NODE_PORT (9402). Files, configs and logs:
// PB_HTTP_NODES_DIR (default <tmp>/protobalance-http-nodes). nginx: NGINX or the usual paths.
// Prints "nodes ready" once both answer; Ctrl-C (or SIGTERM) stops both nginx.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const NODES = [
  { id: 'a', host: '127.0.0.2' },
  { id: 'b', host: '127.0.0.3' },
];
const BIG_FILE_BYTES = 20 * 1024 * 1024;
const httpPort = Number(process.env.PB_HTTP_NODE_PORT ?? 9401);
const h2cPort = Number(process.env.PB_H2C_NODE_PORT ?? 9402);
const dir = path.resolve(process.env.PB_HTTP_NODES_DIR ?? path.join(tmpdir(), 'protobalance-http-nodes'));

/** The nginx binary: NGINX, else Debian's /usr/sbin (not on a normal user's PATH), else PATH. */
function findNginx() {
  if (process.env.NGINX) return process.env.NGINX;
  const onPath = (process.env.PATH ?? '').split(path.delimiter).map((d) => path.join(d, 'nginx'));
  return ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', ...onPath].find((p) => existsSync(p));
}

/** The shared document root; the big file is made once and kept (its hash beside it). */
function prepareDocuments() {
  const www = path.join(dir, 'www');
  mkdirSync(www, { recursive: true, mode: 0o755 });
  const big = path.join(www, 'big.bin');
  if (!existsSync(big) || statSync(big).size !== BIG_FILE_BYTES || !existsSync(`${big}.sha256`)) {
    const data = randomBytes(BIG_FILE_BYTES);
    writeFileSync(big, data);
    writeFileSync(`${big}.sha256`, `${createHash('sha256').update(data).digest('hex')}  big.bin\n`);
  }
  return { www, sha256: readFileSync(`${big}.sha256`, 'utf8').split(' ')[0] };
}

/** One node's nginx.conf: everything (pid, logs, temp files) under its own prefix. */
function nginxConf(node, prefix, www) {
  return `# nginx for node ${node.id} of examples/http (written by start-nodes.mjs)
daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 512; }
http {
  # $connection and $connection_requests show keep-alive: one connection, several requests.
  log_format conn '$connection $connection_requests $server_protocol "$request" $status $body_bytes_sent';
  access_log ${prefix}/access.log conn;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  default_type application/octet-stream;
  keepalive_requests 1000;
  keepalive_timeout 75s;
  server {
    listen ${node.host}:${httpPort};
    listen ${node.host}:${h2cPort} http2;
    root ${www};
    add_header X-Node ${node.id} always;
    location = / {
      default_type text/plain;
      return 200 "Hello from nginx node ${node.id} ($server_protocol on $server_addr:$server_port)\\n";
    }
  }
}
`;
}

/** Resolves once host:port accepts a connection; bounded by `ms`. */
async function waitForPort(host, port, ms) {
  const deadline = Date.now() + ms;
  for (let attempt = 0; Date.now() < deadline && attempt < 1000; attempt++) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answers on ${host}:${port} within ${ms} ms`);
}

const nginx = findNginx();
if (!nginx) {
  process.stderr.write('nginx not found: install it (Debian: apt-get install nginx) or set NGINX=/path/to/nginx\n');
  process.exit(1);
}
const { www, sha256 } = prepareDocuments();
/** @type {{ id: string, child: import('node:child_process').ChildProcess, exited: Promise<void> }[]} */
const running = [];
let stopping = false;

/** Stops every nginx started here (SIGQUIT: graceful; SIGKILL after 5 s), then exits. */
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGQUIT');
  const killer = setTimeout(() => running.forEach((r) => r.child.kill('SIGKILL')), 5_000);
  await Promise.all(running.map((r) => r.exited));
  clearTimeout(killer);
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void stopAll(0));

for (const node of NODES) {
  const prefix = path.join(dir, node.id);
  mkdirSync(path.join(prefix, 'tmp'), { recursive: true, mode: 0o755 });
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(node, prefix, www));
  // -e: errors before the config is read go to stderr too, not to a system log path.
  const child = spawn(nginx, ['-e', 'stderr', '-p', `${prefix}/`, '-c', conf], { stdio: ['ignore', 'inherit', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (c) => {
    errors += c;
    process.stderr.write(`[nginx ${node.id}] ${c}`);
  });
  const exited = new Promise((resolve) => child.on('close', () => resolve()));
  running.push({ id: node.id, child, exited });
  child.on('close', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`nginx of node ${node.id} exited (${code ?? signal}): ${errors.trim() || `see ${prefix}/error.log`}\n`);
    void stopAll(1);
  });
}

try {
  for (const node of NODES) {
    await Promise.all([waitForPort(node.host, httpPort, 10_000), waitForPort(node.host, h2cPort, 10_000)]);
    const pid = running.find((r) => r.id === node.id)?.child.pid;
    process.stdout.write(`node ${node.id}: nginx on ${node.host}:${httpPort} (HTTP/1.1) and ${node.host}:${h2cPort} (h2c), pid ${pid}, logs in ${path.join(dir, node.id)}\n`);
  }
  process.stdout.write(`big.bin sha256 ${sha256}\nnodes ready\n`);
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  await stopAll(1);
}
