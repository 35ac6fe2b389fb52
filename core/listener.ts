/**
 * Listening sockets: one `net.Server` per port of each configured listener (a range
 * opens one per port). Sockets arrive paused, half-open allowed, Nagle off.
 */
import net, { type Server, type Socket } from 'node:net';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { ListeningAddress } from './hooks.ts';
import type { Logger } from './logger.ts';
import type { ResolvedListener } from './types.ts';

export type ConnectionHandler = (socket: Socket, listener: string) => void;

interface Bound {
  server: Server;
  listener: string;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
};

function listenOne(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export class ListenerSet {
  private bound: Bound[] = [];

  constructor(private readonly logger: Logger) {}

  /** Open every listener; on any failure close what was opened and throw PB_ERR_LISTEN. */
  async open(listeners: readonly ResolvedListener[], onConnection: ConnectionHandler): Promise<void> {
    for (const [i, l] of listeners.entries()) {
      for (let port = l.portFrom; port <= l.portTo; port++) {
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
          onConnection(socket, l.name),
        );
        try {
          await listenOne(server, port, l.host);
        } catch (err) {
          await this.close();
          const code = (err as NodeJS.ErrnoException).code ?? '';
          const why = REASONS[code] ?? describeError(err);
          throw pbError(ErrorCodes.LISTEN, `listeners[${i}]: cannot listen on ${l.host ?? '*'}:${port}: ${why}`, {
            cause: err,
          });
        }
        // Accept failures (EMFILE and the like) must not end the process.
        server.on('error', (err) => this.logger.error({ listener: l.name, err: describeError(err) }, 'listener error'));
        this.bound.push({ server, listener: l.name });
      }
    }
  }

  addresses(): ListeningAddress[] {
    return this.bound.map(({ server, listener }) => {
      const a = server.address() as net.AddressInfo;
      return { listener, host: a.address, port: a.port };
    });
  }

  /**
   * Stop accepting; open connections are not touched. (`server.close`'s callback waits
   * for every accepted socket to end, so it is not awaited: the port is freed at once.)
   */
  async close(): Promise<void> {
    for (const { server } of this.bound) server.close();
    this.bound = [];
  }
}
