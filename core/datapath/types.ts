/**
 * The data path: the only code that touches sockets. Two implementations share this
 * shape: `fast` (libuv TCP handles from Node's internal bindings, no stream objects) and
 * `net` (the public `net` API). One is chosen at start-up (core/datapath/index.ts); the
 * forwarding logic in core/forward.ts sees only these interfaces.
 */

/** What the owner of an endpoint hears. Called with the endpoint, never with a closure per event. */
export interface EndpointListener {
  /** A dialled endpoint is connected. */
  onConnect(ep: Endpoint): void;
  /** The first chunk arrived; it is forwarded right after this returns. */
  onFirstData(ep: Endpoint): void;
  /**
   * A chunk read while capturing (`Endpoint.capture`), not forwarded. It may be kept: the
   * data path never reads into it again.
   */
  onData(ep: Endpoint, chunk: Buffer): void;
  /**
   * The peer ended its side. Return false to keep the forward target's write side open
   * (fall-over); otherwise the target is shut down once its pending writes are done.
   */
  onEnd(ep: Endpoint): boolean;
  /** Connect, read or write failed (a timeout is `ETIMEDOUT`). The endpoint closes itself. */
  onError(ep: Endpoint, err: Error): void;
  /** The endpoint is closed for good: called once. */
  onClose(ep: Endpoint): void;
}

export interface Endpoint {
  listener: EndpointListener;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The local address of the socket (for a client: the address it dialled), asked of the kernel on first read. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Bytes read from this socket and bytes written to it (forwarded by the data path). */
  bytesRead: number;
  bytesWritten: number;
  /** The peer ended its side (EOF read). */
  readonly readEnded: boolean;
  readonly closed: boolean;
  /** Bytes accepted for writing to this socket but not yet handed to the kernel. */
  readonly pendingBytes: number;
  /** Start moving what this endpoint reads into `to`, with backpressure. */
  forwardTo(to: Endpoint): void;
  /**
   * Read without forwarding: each chunk goes to `listener.onData` (an end to `onEnd`)
   * until `stopReading` or `forwardTo`. For a preface, or to notice a client that leaves
   * while it waits. Only before the first `forwardTo`.
   */
  capture(): void;
  /**
   * Write `data` to this socket ahead of anything forwarded to it later (preface
   * leftovers, a preamble). It counts in `bytesWritten`; `data` must not change after.
   */
  write(data: Uint8Array): void;
  /** Stop reading (what was read is still delivered); `forwardTo` resumes. */
  stopReading(): void;
  /** Close now; pending writes are dropped. */
  destroy(): void;
  /** Close with a TCP reset, so the peer sees what the other side did. */
  reset(): void;
}

/** An address a data path listens on, handed to worker processes as a raw handle. */
export interface ListenHandle {
  readonly host: string;
  readonly port: number;
  /** The libuv TCP handle, to send to a worker process over IPC. */
  readonly handle: object;
  /**
   * Stop accepting for now (core/datapath/accept-gate.ts): the socket stays open and the
   * kernel queues new clients. False when this socket cannot pause (it then accepts on).
   */
  pause(): boolean;
  /** Accept again after `pause`. */
  resume(): void;
  close(): void;
}

export type AcceptHandler = (client: Endpoint) => void;

export interface DataPath {
  readonly name: 'fast' | 'net';
  /** Bind and listen; the error has the system `code` (EADDRINUSE…). */
  listen(host: string | undefined, port: number, onAccept: AcceptHandler, onError: (err: Error) => void): Promise<ListenHandle>;
  /** Accept on a listening handle that another process opened (see `ListenHandle.handle`). */
  adopt(handle: object, onAccept: AcceptHandler, onError: (err: Error) => void): ListenHandle;
  /** Dial `host:port`; `listener.onConnect` or `onError` (ETIMEDOUT after `timeoutMs`) follows. */
  dial(host: string, port: number, timeoutMs: number, listener: EndpointListener): Endpoint;
}
