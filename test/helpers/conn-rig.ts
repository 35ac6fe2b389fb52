/**
 * For tests of the per-connection hooks (preface, nodePreamble, claimNode, waitForNode,
 * refusal codes): a balancer on a chosen data path with test plugins, nodes that record
 * what they receive, clients that collect what they get, everything closed at the end.
 */
import net, { type Server, type Socket } from 'node:net';
import type { Config, ConnectionTotals, Plugin } from '../../core/index.ts';
import { oneCluster, startBalancer, type TestBalancer } from './balancer.ts';
import { addr, closeServer, HOST, startServer, withTimeout } from './net.ts';

export const PATHS = ['fast', 'net'] as const;
export type PathName = (typeof PATHS)[number];

/** A node that keeps every byte each connection sent it, and echoes them back. */
export interface RecordingNode {
  server: Server;
  address: string;
  /** What each connection received, in arrival order of the connections. */
  received: Buffer[];
  connections: number;
}

export class ConnRig {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private tb: TestBalancer | undefined;
  readonly totals: ConnectionTotals[] = [];

  /** An echo node that records what it got per connection; `close`: end each connection at once. */
  async node(mode: 'echo' | 'close' = 'echo'): Promise<RecordingNode> {
    const rec: RecordingNode = { server: undefined as unknown as Server, address: '', received: [], connections: 0 };
    rec.server = await startServer((socket) => {
      this.sockets.add(socket);
      const i = rec.connections++;
      rec.received[i] = Buffer.alloc(0);
      if (mode === 'close') return void socket.destroy();
      socket.on('data', (c: Buffer) => {
        rec.received[i] = Buffer.concat([rec.received[i]!, c]);
        socket.write(c);
      });
      socket.on('end', () => socket.end());
    });
    rec.address = addr(rec.server);
    this.servers.push(rec.server);
    return rec;
  }

  /** Start a balancer over `nodes` with `plugins` (and one that records every `closed` total). */
  async balancer(path: PathName, nodes: string[], plugins: Plugin[], extra: Partial<Config> = {}): Promise<TestBalancer> {
    const totals = this.totals;
    const recorder: Plugin = { name: 'totals', apply: (hooks) => hooks.closed.tap('totals', (_ctx, t) => void totals.push(t)) };
    this.tb = await startBalancer({ ...oneCluster(nodes), dataPath: path, ...extra, plugins: [...plugins, recorder] });
    return this.tb;
  }

  /** A client connection to the balancer; `got()` is everything it received so far. */
  client(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: HOST, port });
      this.sockets.add(socket);
      const client = new Client(socket);
      socket.once('connect', () => resolve(client));
      socket.once('error', reject);
    });
  }

  async cleanup(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.tb) await withTimeout(this.tb.stop(), 5000, 'balancer stop');
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => withTimeout(closeServer(s), 5000, 'server close')));
  }
}

export class Client {
  private chunks: Buffer[] = [];
  /** Resolves when the balancer closed the connection (end or reset). */
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => this.chunks.push(c));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  got(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/** Run `fn` with a fresh rig, always cleaned up; bounded in time. */
export async function withConnRig(fn: (rig: ConnRig) => Promise<void>, ms = 20_000): Promise<void> {
  const rig = new ConnRig();
  try {
    await withTimeout(fn(rig), ms, 'test body');
  } finally {
    await rig.cleanup();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
