/**
 * Listening sockets: one per port of each configured listener (a range opens one per
 * port), opened through the data path. In a worker process the same sockets arrive from
 * the primary as handles and are adopted instead. Every socket in use is gated: when the
 * process runs short of descriptors, accepting pauses (core/datapath/accept-gate.ts).
 */
import { acceptGate } from './datapath/accept-gate.ts';
import type { DataPath, Endpoint, ListenHandle } from './datapath/index.ts';
import { describeError, ErrorCodes, pbError } from './errors.ts';
import type { ListeningAddress } from './hooks.ts';
import type { Logger } from './logger.ts';
import type { ResolvedListener } from './types.ts';

export type ConnectionHandler = (client: Endpoint, listener: string) => void;

/** A listening socket as it crosses to a worker: the listener's name, its identity and the raw handle. */
export interface SharedListen {
  listener: string;
  /** `listenerKey` of the listener it belongs to. */
  key: string;
  handle: object;
}

interface Bound {
  listen: ListenHandle;
  listener: string;
  key: string;
}

/**
 * What makes a listener the same across configs: name and address. A listener that keeps
 * both keeps its sockets (and whatever the kernel has queued on them) through a reload;
 * its cluster may change freely, that is routing.
 */
export function listenerKey(l: ResolvedListener): string {
  return `${l.name}|${l.host ?? '*'}|${l.portFrom}-${l.portTo}`;
}

/** The sockets a config change opened, and how to finish the change by closing the old ones. */
export interface ListenerChange {
  opened: number;
  /** Close the sockets of listeners the new config no longer has; returns how many. */
  closeRemoved(): number;
  /** Undo: close what was opened (the change failed elsewhere). */
  rollBack(): void;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
};

/** Why a socket could not listen, in words (also for the admin server's port). */
export function whyNotListening(err: unknown): string {
  return REASONS[(err as NodeJS.ErrnoException).code ?? ''] ?? describeError(err);
}

export class ListenerSet {
  private bound: Bound[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly dataPath: DataPath,
  ) {}

  /** Open every listener; on any failure close what was opened and throw PB_ERR_LISTEN. */
  async open(listeners: readonly ResolvedListener[], onConnection: ConnectionHandler): Promise<void> {
    const opened = await this.openEach(listeners.map((l, i) => [l, i]), onConnection);
    this.keep(opened);
  }

  /**
   * Move to `listeners`: open the ones not open yet now (all or none: on a failure what
   * this call opened is closed and PB_ERR_LISTEN thrown); the caller closes the removed
   * ones once the new routes are in place, so no client meets a listener without a route.
   */
  async change(listeners: readonly ResolvedListener[], onConnection: ConnectionHandler): Promise<ListenerChange> {
    const have = new Set(this.bound.map((b) => b.key));
    const wanted = new Set(listeners.map(listenerKey));
    const opened = await this.openEach(
      listeners.flatMap((l, i) => (have.has(listenerKey(l)) ? [] : [[l, i] as const])),
      onConnection,
    );
    this.keep(opened);
    return {
      opened: opened.length,
      closeRemoved: () => this.closeWhere((b) => !wanted.has(b.key)),
      rollBack: () => void this.closeWhere((b) => opened.includes(b)),
    };
  }

  private async openEach(list: readonly (readonly [ResolvedListener, number])[], onConnection: ConnectionHandler): Promise<Bound[]> {
    const opened: Bound[] = [];
    for (const [l, i] of list) {
      for (let port = l.portFrom; port <= l.portTo; port++) {
        try {
          const listen = await this.dataPath.listen(l.host, port, (c) => onConnection(c, l.name), this.onError(l.name));
          opened.push({ listen, listener: l.name, key: listenerKey(l) });
        } catch (err) {
          for (const b of opened) b.listen.close();
          throw pbError(ErrorCodes.LISTEN, `listeners[${i}]: cannot listen on ${l.host ?? '*'}:${port}: ${whyNotListening(err)}`, {
            cause: err,
          });
        }
      }
    }
    return opened;
  }

  /** Accept on sockets another process opened (a worker on its primary's listeners). */
  adopt(shared: readonly SharedListen[], onConnection: ConnectionHandler): void {
    for (const { listener, key, handle } of shared) {
      const listen = this.dataPath.adopt(handle, (c) => onConnection(c, listener), this.onError(listener));
      this.keep([{ listen, listener, key }]);
    }
  }

  private keep(list: readonly Bound[]): void {
    for (const b of list) {
      this.bound.push(b);
      acceptGate.add(b.listen, this.logger);
    }
  }

  /**
   * A worker's side of a listener change: adopt the handed-over sockets of `listeners` it
   * does not accept on yet, and close those of listeners no longer there. A handed-over
   * socket it does not use is closed too: kept, it would hold its port open in this
   * process with nobody accepting, and clients would queue there for ever.
   */
  adoptChange(
    listeners: readonly ResolvedListener[],
    offered: readonly SharedListen[],
    onConnection: ConnectionHandler,
  ): { opened: number; closed: number } {
    const wanted = new Set(listeners.map(listenerKey));
    const closed = this.closeWhere((b) => !wanted.has(b.key));
    const have = new Set(this.bound.map((b) => b.key));
    const use: SharedListen[] = [];
    for (const s of offered) {
      if (wanted.has(s.key) && !have.has(s.key)) {
        use.push(s);
        have.add(s.key);
      } else this.dataPath.adopt(s.handle, () => {}, () => {}).close();
    }
    this.adopt(use, onConnection);
    return { opened: use.length, closed };
  }

  /** The listening sockets, to hand to worker processes. */
  shared(): SharedListen[] {
    return this.bound.map(({ listen, listener, key }) => ({ listener, key, handle: listen.handle }));
  }

  private closeWhere(test: (b: Bound) => boolean): number {
    const gone = this.bound.filter(test);
    for (const b of gone) {
      acceptGate.delete(b.listen);
      b.listen.close();
    }
    this.bound = this.bound.filter((b) => !gone.includes(b));
    return gone.length;
  }

  addresses(): ListeningAddress[] {
    return this.bound.map(({ listen, listener }) => ({ listener, host: listen.host, port: listen.port }));
  }

  /** Stop accepting; open connections are not touched. */
  async close(): Promise<void> {
    this.closeWhere(() => true);
  }

  // Accept failures must not end the process (a shortage of descriptors goes to the gate).
  private onError(listener: string): (err: Error) => void {
    return (err) => this.logger.error({ listener, err: describeError(err) }, 'listener error');
  }
}
