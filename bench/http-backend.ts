/**
 * The HTTP backend when nginx is not installed: a Node server answering every request with
 * the same 64-byte body nginx would (bench/nginx.ts), run as a child of the benchmark (own
 * event loop) that reports `{ type: 'ready', ports: { http } }` over IPC. One Node process
 * is slower than nginx on two workers, so with it a fast proxy may be limited by the backend;
 * the report says which backend ran.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTP_BODY } from './http-body.ts';
import { serveStats, type ReadyMessage } from './protocol.ts';

const body = Buffer.from(HTTP_BODY);
const server = http.createServer({ keepAliveTimeout: 300_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
// Node's defaults would cut long keep-alive phases and slow clients of the idle figure.
server.headersTimeout = 0;
server.requestTimeout = 0;
server.on('clientError', (_err, socket) => socket.destroy());

serveStats();
server.listen(0, '127.0.0.1', 4096, () => {
  const ready: ReadyMessage = { type: 'ready', ports: { http: (server.address() as AddressInfo).port } };
  process.send?.(ready);
});
