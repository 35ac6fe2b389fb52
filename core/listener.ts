/**
 * Listening sockets: one per port of each configured listener (a range opens one per
 * port), opened through the data path. In a worker process the same sockets arrive from
 * the primary as handles and are adopted instead.
 */
import type { DataPath, Endpoint, ListenHandle } from './datapath/index.ts';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { ListeningAddress } from './hooks.ts';
import type { Logger } from './logger.ts';
import type { ResolvedListener } from './types.ts';

export type ConnectionHandler = (client: Endpoint, listener: string) => void;

/** A listening socket as it crosses to a worker: the listener's name and the raw handle. */
export interface SharedListen {
  listener: string;
  handle: object;
}

interface Bound {
  listen: ListenHandle;
  listener: string;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
};

export class ListenerSet {
  private bound: Bound[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly dataPath: DataPath,
  ) {}

  /** Open every listener; on any failure close what was opened and throw PB_ERR_LISTEN. */
  async open(listeners: readonly ResolvedListener[], onConnection: ConnectionHandler): Promise<void> {
    for (const [i, l] of listeners.entries()) {
      for (let port = l.portFrom; port <= l.portTo; port++) {
        try {
          const listen = await this.dataPath.listen(l.host, port, (c) => onConnection(c, l.name), this.onError(l.name));
          this.bound.push({ listen, listener: l.name });
        } catch (err) {
          await this.close();
          const code = (err as NodeJS.ErrnoException).code ?? '';
          const why = REASONS[code] ?? describeError(err);
          throw pbError(ErrorCodes.LISTEN, `listeners[${i}]: cannot listen on ${l.host ?? '*'}:${port}: ${why}`, {
            cause: err,
          });
        }
      }
    }
  }

  /** Accept on sockets another process opened (a worker on its primary's listeners). */
  adopt(shared: readonly SharedListen[], onConnection: ConnectionHandler): void {
    for (const { listener, handle } of shared) {
      const listen = this.dataPath.adopt(handle, (c) => onConnection(c, listener), this.onError(listener));
      this.bound.push({ listen, listener });
    }
  }

  /** The listening sockets, to hand to worker processes. */
  shared(): SharedListen[] {
    return this.bound.map(({ listen, listener }) => ({ listener, handle: listen.handle }));
  }

  addresses(): ListeningAddress[] {
    return this.bound.map(({ listen, listener }) => ({ listener, host: listen.host, port: listen.port }));
  }

  /** Stop accepting; open connections are not touched. */
  async close(): Promise<void> {
    for (const { listen } of this.bound) listen.close();
    this.bound = [];
  }

  // Accept failures (EMFILE and the like) must not end the process.
  private onError(listener: string): (err: Error) => void {
    return (err) => this.logger.error({ listener, err: describeError(err) }, 'listener error');
  }
}
