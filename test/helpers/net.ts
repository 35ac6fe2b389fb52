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

/** `promise`, or a rejection naming `what` when it has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => {}); // a late rejection after the timeout must not be unhandled
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Live progress of `writeChunked`. */
export interface WriteProgress {
  /** Bytes handed to `socket.write` so far. */
  handed: number;
  /** Times `socket.write` returned false (the writer then waited for 'drain'). */
  blocked: number;
  /** Largest `socket.writableLength` seen right after a write. */
  maxWritableLength: number;
  done: boolean;
}

/**
 * Write `data` in `chunkSize` pieces, waiting for 'drain' whenever `write` returns false
 * (backpressure), then end the socket unless `end` is false.
 */
export function writeChunked(
  socket: Socket,
  data: Buffer,
  options: { chunkSize?: number; end?: boolean } = {},
): { progress: WriteProgress; finished: Promise<void> } {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const progress: WriteProgress = { handed: 0, blocked: 0, maxWritableLength: 0, done: false };
  const drained = () =>
    new Promise<void>((resolve, reject) => {
      const onDrain = () => (cleanup(), resolve());
      const onClose = () => (cleanup(), reject(new Error('socket closed while waiting for drain')));
      const cleanup = () => {
        socket.off('drain', onDrain);
        socket.off('close', onClose);
      };
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  const finished = (async () => {
    while (progress.handed < data.length) {
      const piece = data.subarray(progress.handed, progress.handed + chunkSize);
      const ok = socket.write(piece);
      progress.handed += piece.length;
      progress.maxWritableLength = Math.max(progress.maxWritableLength, socket.writableLength);
      if (!ok) {
        progress.blocked++;
        await drained();
      }
    }
    if (options.end ?? true) socket.end();
    progress.done = true;
  })();
  finished.catch(() => {});
  return { progress, finished };
}

/** Everything a socket sends until it ends, read slowly: a pause of `delayMs` after every chunk. */
export function readSlowly(socket: Socket, delayMs = 1): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      socket.pause();
      setTimeout(() => socket.resume(), delayMs);
    });
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('socket closed before its end')));
  });
}

/** `127.0.0.1:<port>` of a listening server, as a node address. */
export function addr(server: Server): string {
  return `${HOST}:${portOf(server)}`;
}

/** Connect, send `text`, end, and return everything the other side sent back. */
export async function roundTrip(port: number, text: string): Promise<string> {
  const socket = await connect(port);
  socket.end(text);
  return (await readAll(socket)).toString();
}

/** Connect to `port` from `from` (a loopback address) and return what the node answered before it ended. */
export function answerFrom(port: number, from = '127.0.0.1'): Promise<string> {
  const answer = new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.once('error', reject);
  });
  return withTimeout(answer, 5000, `a connection from ${from}`);
}

/** `answerFrom` `times` times in a row. */
export async function answersFrom(port: number, from: string, times: number): Promise<string[]> {
  const served: string[] = [];
  for (let i = 0; i < times; i++) served.push(await answerFrom(port, from));
  return served;
}

