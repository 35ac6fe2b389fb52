/**
 * The two nodes of the plugins part (bench/plugin-cost.ts), run as a child process (its own
 * event loop): TCP servers on 127.0.0.1 that answer each REQUEST_SIZE bytes with
 * RESPONSE_SIZE bytes (the client closes). A connection that starts with a PROXY protocol
 * header (from a cluster with `proxyProtocol`) has it read with the plugin's own parser and
 * dropped first; the headers seen are counted, and those naming a 10.0.0.0/8 source (the
 * addresses the load client's own headers carry), so the parent can check the header made
 * it through. Sends `{ type: 'ready', ports: { n1, n2 } }`, answers `{ type: 'headers' }`
 * with the counts so far, and exits with its parent.
 */
import net, { type Socket } from 'node:net';
import { parseProxyHeader } from '../plugins/proxy-protocol/index.ts';
import { REQUEST_SIZE, RESPONSE_SIZE, serveStats, type ReadyMessage } from './protocol.ts';

const RESPONSE = Buffer.alloc(RESPONSE_SIZE, 0x61);
/** The first byte of a v1 header ('P') and of a v2 one (CR); requests are 'q' bytes. */
const HEADER_STARTS = new Set([0x50, 0x0d]);

export interface HeaderCounts {
  type: 'headers';
  headers: number;
  fromTenNet: number;
  badHeaders: number;
}

const counts: HeaderCounts = { type: 'headers', headers: 0, fromTenNet: 0, badHeaders: 0 };

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  /** undefined: nothing read yet; a Buffer: a header being read; null: requests from here on. */
  let head: Buffer | null | undefined;
  let pending = 0;
  const requests = (n: number) => {
    pending += n;
    const k = Math.floor(pending / REQUEST_SIZE);
    if (k === 0) return;
    pending -= k * REQUEST_SIZE;
    socket.write(k === 1 ? RESPONSE : Buffer.concat(Array.from({ length: k }, () => RESPONSE)));
  };
  socket.on('data', (chunk: Buffer) => {
    if (head === null || (head === undefined && !HEADER_STARTS.has(chunk[0]!))) {
      head = null;
      requests(chunk.length);
      return;
    }
    head = head ? Buffer.concat([head, chunk]) : chunk;
    const r = parseProxyHeader(head);
    if (r.state === 'more') return;
    if (r.state === 'error') {
      counts.badHeaders++;
      socket.destroy();
      return;
    }
    counts.headers++;
    if (r.source?.address.startsWith('10.')) counts.fromTenNet++;
    const rest = head.length - r.consumed;
    head = null;
    requests(rest);
  });
}

function listen(): Promise<number> {
  const server = net.createServer((socket) => {
    serve(socket);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', 511, () => resolve((server.address() as net.AddressInfo).port)));
}

serveStats();
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'headers') process.send?.(counts);
});
const [n1, n2] = await Promise.all([listen(), listen()]);
const ready: ReadyMessage = { type: 'ready', ports: { n1: n1!, n2: n2! } };
process.send?.(ready);
