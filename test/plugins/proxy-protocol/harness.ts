/**
 * What the PROXY protocol socket tests share: a balancer with the plugin (the built-in one
 * once plugins/builtin.ts lists it, else the plugin given in the config, as a third
 * party's would be), a node that reports the PROXY header it was sent, and a client that
 * dials from a chosen loopback address.
 */
import net, { type Server, type Socket } from 'node:net';
import type { Config, PluginEntry } from 'protobalance';
import proxyProtocol from '../../../plugins/proxy-protocol/index.ts';
import { parseProxyHeader, type ParseResult } from '../../../plugins/proxy-protocol/parse.ts';
import { builtinPlugins } from '../../helpers/assembly.ts';
import { startBalancer, type TestBalancer } from '../../helpers/balancer.ts';
import { closeServer, HOST, withTimeout } from '../../helpers/net.ts';

/**
 * Both data paths: `auto` (the fast one where this Node has it) and the public `net` one.
 * The preface and the preamble are data-path work, so each socket test runs on each.
 */
export const DATA_PATHS = ['auto', 'net'] as const;
export type DataPathName = (typeof DATA_PATHS)[number];

const isBuiltin = builtinPlugins().some((p: PluginEntry) => typeof p === 'object' && p !== null && 'name' in p && p.name === 'proxy-protocol');

/** `config` with the plugin loaded (unless it is built in), started with a recording logger. */
export function startWithPlugin(config: Config): Promise<TestBalancer> {
  return startBalancer(isBuiltin ? config : { ...config, plugins: [...(config.plugins ?? []), proxyProtocol] });
}

/** One connection a `HeaderNode` took: the raw bytes before the client's, and what followed. */
export interface NodeVisit {
  header: Buffer;
  parsed: ParseResult;
  /** The client's bytes after the header, as they arrived (the node echoes them). */
  data: Buffer;
}

export interface HeaderNode {
  server: Server;
  port: number;
  visits: NodeVisit[];
  close(): Promise<void>;
}

/**
 * A node that expects a PROXY header: it keeps the header's raw bytes, answers a line
 * `header <hex of the header bytes>\n`, then echoes whatever the client sends after it.
 * The header's end is found by the plugin's reader; the tests compare the raw bytes with
 * the exact bytes expected, so a wrong reader cannot make a wrong header pass.
 */
export async function startHeaderNode(): Promise<HeaderNode> {
  const visits: NodeVisit[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let got = Buffer.alloc(0);
    let visit: NodeVisit | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (visit) {
        visit.data = Buffer.concat([visit.data, chunk]);
        socket.write(chunk);
        return;
      }
      got = Buffer.concat([got, chunk]);
      const parsed = parseProxyHeader(got);
      if (parsed.state === 'more') return;
      const end = parsed.state === 'done' ? parsed.consumed : got.length;
      visit = { header: got.subarray(0, end), parsed, data: got.subarray(end) };
      visits.push(visit);
      socket.write(`header ${visit.header.toString('hex')}\n`);
      if (visit.data.length > 0) socket.write(visit.data);
    });
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = async () => {
    await closeServer(server); // its open connections too
  };
  return { server, port, visits, close };
}

/** A TCP server that counts connections and echoes; it must see none in the refusal tests. */
export async function startCountingNode(): Promise<{ server: Server; port: number; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { server, port, connections: () => count, close: () => closeServer(server) };
}

export interface Exchange {
  /** The port the client's socket had: the source port the balancer saw. */
  localPort: number;
  /** Everything the other side sent before it ended. */
  answer: Buffer;
  /** When the other side ended or reset, from the connect (ms). */
  closedAfterMs: number;
}

/**
 * Dial `port` on `host` (127.0.0.1) from `from` (the same), send `parts` (a pause of `gapMs` between them), end
 * unless `end` is false, and collect the answer until the other side ends (bounded by `ms`).
 */
export function exchange(
  port: number,
  parts: (string | Buffer)[],
  options: { host?: string; from?: string; gapMs?: number; end?: boolean; ms?: number } = {},
): Promise<Exchange> {
  const done = new Promise<Exchange>((resolve, reject) => {
    const host = options.host ?? HOST;
    const socket: Socket = net.connect({ host, port, localAddress: options.from ?? host });
    const chunks: Buffer[] = [];
    let localPort = 0;
    let started = 0;
    const finish = () => resolve({ localPort, answer: Buffer.concat(chunks), closedAfterMs: Date.now() - started });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('close', finish);
    socket.on('error', () => {}); // a reset ends it too; `close` follows
    socket.once('connect', async () => {
      started = Date.now();
      localPort = socket.localPort ?? 0;
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (socket.destroyed) return;
        socket.write(part);
      }
      if (options.end !== false && !socket.destroyed) socket.end();
    });
    socket.once('error', (err) => (localPort === 0 ? reject(err) : undefined));
  });
  return withTimeout(done, options.ms ?? 10_000, `an exchange with port ${port}`);
}
