/** Socket helpers for tests: servers on port 0 of 127.0.0.1, clients, checksums. */
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export const HOST = '127.0.0.1';

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** A TCP server on 127.0.0.1:0 (half-open allowed), already listening. */
export async function startServer(onSocket: (socket: Socket) => void): Promise<Server> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return server;
}

/** An echo server that also counts its connections. */
export async function startEchoServer(): Promise<Server & { connections: number }> {
  const server = (await startServer((socket) => {
    server.connections++;
    socket.pipe(socket);
  })) as Server & { connections: number };
  server.connections = 0;
  return server;
}

export function closeServer(server: Server): Promise<void> {
  (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port that nothing listens on (taken from the OS, then released). */
export async function freePort(): Promise<number> {
  const server = await startServer(() => {});
  const port = portOf(server);
  await closeServer(server);
  return port;
}

export function connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port, allowHalfOpen: options.allowHalfOpen ?? false });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything a socket sends until it ends. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export { randomBytes };

/** Resolves when `socket` has closed; with the error it closed with, if any. */
export function closed(socket: Socket): Promise<Error | undefined> {
  return new Promise((resolve) => {
    if (socket.destroyed && socket.closed) return resolve(undefined);
    let error: Error | undefined;
    socket.on('error', (err) => (error = err));
    socket.once('close', () => resolve(error));
  });
}

/** Wait until `check()` is true, polling; fails after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
