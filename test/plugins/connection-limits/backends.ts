/**
 * Helpers for the connection limits tests: nodes that say who they are and count the
 * connections they hold (now, at most at once, in all), and clients that tell where
 * they landed, or that they were turned away.
 */
import net, { type Server, type Socket } from 'node:net';
import { builtinPlugins } from '../../helpers/assembly.ts';
import { HOST, startServer, withTimeout } from '../../helpers/net.ts';

/** The plugin is given in the config's `plugins` while it is not a built-in yet (twice would be an error). */
export const builtIn = builtinPlugins().some((p) => typeof p === 'object' && p !== null && 'name' in p && p.name === 'connection-limits');

export interface Backend {
  readonly id: string;
  readonly server: Server;
  /** Held now, the most held at once, and in all. */
  open: number;
  peak: number;
  total: number;
}

/** A node that writes its id to every client and keeps the connection until the client ends it, or for `holdMs` when given. */
export async function backend(id: string, holdMs?: number): Promise<Backend> {
  const b = { id, open: 0, peak: 0, total: 0 } as Backend & { server: Server };
  b.server = await startServer((s) => {
    b.open++;
    b.total++;
    b.peak = Math.max(b.peak, b.open);
    // A connection the node ends itself stops counting when it ends it: the balancer
    // frees the slot only after that (it must see the end first), so a next connection
    // can never be counted beside it. One the client ends stops counting at its close.
    let counted = true;
    const done = () => {
      if (counted) b.open--;
      counted = false;
    };
    s.once('close', done);
    s.on('data', () => undefined);
    s.on('end', () => s.end());
    s.write(id);
    if (holdMs !== undefined) {
      setTimeout(() => {
        done();
        s.end();
      }, holdMs);
    }
  });
  return b;
}

export const addressOf = (b: Backend) => `${HOST}:${(b.server.address() as net.AddressInfo).port}`;

export interface Client {
  readonly socket: Socket;
  /** The id of the node that answered, or '' when the balancer closed the client without one. */
  readonly landed: Promise<string>;
}

/** A client of the balancer at `port` (from `from`, a loopback address), held open until destroyed. */
export function client(port: number, from = HOST): Client {
  const socket = net.connect({ host: HOST, port, localAddress: from });
  socket.on('error', () => undefined);
  const landed = new Promise<string>((resolve) => {
    socket.once('data', (d) => resolve(String(d)));
    socket.once('close', () => resolve(''));
  });
  return { socket, landed };
}

/** `n` clients, each once it landed (or was turned away), within 10 s. */
export async function clients(port: number, n: number, from = HOST): Promise<{ socket: Socket; id: string }[]> {
  const made = Array.from({ length: n }, () => client(port, from));
  const ids = await withTimeout(Promise.all(made.map((c) => c.landed)), 10_000, `${n} clients to land`);
  return made.map((c, i) => ({ socket: c.socket, id: ids[i]! }));
}

export const count = (ids: readonly string[], id: string) => ids.filter((x) => x === id).length;
