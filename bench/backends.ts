/**
 * The benchmark's backends, run as a child process of bench/run.ts (own event loop):
 * an echo server, a request/response server (REQUEST_SIZE bytes in, RESPONSE_SIZE out)
 * and a bulk sink/source. Sends `{ type: 'ready', ports }` over IPC, then answers stats.
 */
import net, { type Server, type Socket } from 'node:net';
import { BULK_DOWNLOAD, BULK_UPLOAD, REQUEST_SIZE, RESPONSE_SIZE, serveStats, type ReadyMessage } from './protocol.ts';

const RESPONSE = Buffer.alloc(RESPONSE_SIZE, 0x61);
const CHUNK = Buffer.alloc(256 * 1024, 0x62);

function quiet(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => {});
}

const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
  quiet(socket);
  socket.pipe(socket);
});

const reqres = net.createServer((socket) => {
  quiet(socket);
  let pending = 0;
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.length;
    const n = Math.floor(pending / REQUEST_SIZE);
    if (n === 0) return;
    pending -= n * REQUEST_SIZE;
    socket.write(n === 1 ? RESPONSE : Buffer.concat(Array.from({ length: n }, () => RESPONSE)));
  });
});

function sendBytes(socket: Socket, total: number): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  pump();
}

const bulk = net.createServer({ allowHalfOpen: true }, (socket) => {
  quiet(socket);
  let mode = 0;
  let received = 0;
  let header = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (mode === 0) {
      mode = chunk[0] ?? 0;
      if (mode === BULK_DOWNLOAD) header = Buffer.from(chunk.subarray(1));
      else received += chunk.length - 1;
    } else if (mode === BULK_UPLOAD) {
      received += chunk.length;
    } else if (header.length < 8) {
      header = Buffer.concat([header, chunk]);
    }
    if (mode === BULK_DOWNLOAD && header.length >= 8 && received === 0) {
      received = -1; // started
      sendBytes(socket, Number(header.readBigUInt64BE(0)));
    }
  });
  socket.on('end', () => {
    if (mode !== BULK_UPLOAD) return;
    const count = Buffer.alloc(8);
    count.writeBigUInt64BE(BigInt(received));
    socket.end(count);
  });
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', 511, () => resolve((server.address() as net.AddressInfo).port)));
}

serveStats();
const ready: ReadyMessage = {
  type: 'ready',
  ports: { echo: await listen(echo), reqres: await listen(reqres), bulk: await listen(bulk) },
};
process.send?.(ready);
