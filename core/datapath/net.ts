/**
 * The `net` data path: public Node APIs only (`net.Server`, `net.Socket`, `pipe`). Used
 * when the fast path's bindings do not fit this Node, or when the config asks for it.
 *
 * Client sockets arrive paused (`pauseOnConnect`), half-open allowed, Nagle off; `pipe`
 * gives the backpressure (at most one high-water mark per direction) and the end of a
 * direction is forwarded by hand so that the owner can veto it (fall-over).
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { lazyNet } from '../lazy-builtin.ts';
import { acceptGate } from './accept-gate.ts';
import { uvError } from './fast-bindings.ts';
import { listenHandle, probeFastDataPath } from './fast.ts';
import type { DataPath, Endpoint, EndpointListener, ListenHandle } from './types.ts';
import { unclaimed } from './unclaimed.ts';

const SERVER_OPTIONS = { allowHalfOpen: true, pauseOnConnect: true, noDelay: true } as const;
const BACKLOG = 511;

class NetEndpoint implements Endpoint {
  listener: EndpointListener;
  readonly socket: Socket;
  remoteAddress: string;
  remotePort: number;
  localPort: number;
  readEnded = false;
  private target: NetEndpoint | undefined;
  /** The 'data' listener while capturing (see capture). */
  private captured: ((chunk: Buffer) => void) | undefined;
  /**
   * The end came before any target: a stream emits 'end' once its buffer is drained even
   * when paused, so an end read while capturing is told before forwarding starts. The
   * target is ended when it comes.
   */
  private endPending = false;
  private sawData = false;
  private connectTimer: NodeJS.Timeout | undefined;
  /** A dialled socket not connected yet: its errors are the dial's. */
  private dialling: boolean;
  /** A dial that failed for want of a descriptor: its close frees none. */
  private noSocket = false;

  constructor(socket: Socket, listener: EndpointListener, remote?: { host: string; port: number }) {
    this.socket = socket;
    this.listener = listener;
    this.remoteAddress = remote?.host ?? socket.remoteAddress ?? '';
    this.remotePort = remote?.port ?? socket.remotePort ?? 0;
    this.localPort = socket.localPort ?? 0;
    this.dialling = remote !== undefined;
    socket.on('error', (err) => {
      this.clearTimer();
      // A dial that failed for want of descriptors (or buffers, ports) pauses accepting.
      if (this.dialling && acceptGate.check(err, 'dial')) this.noSocket = /^E[MN]FILE$/.test((err as NodeJS.ErrnoException).code ?? '');
      this.listener.onError(this, err);
    });
    socket.on('close', () => {
      this.clearTimer();
      if (!this.noSocket) acceptGate.released();
      this.listener.onClose(this);
    });
    socket.on('end', () => {
      this.readEnded = true;
      const keepOpen = this.listener.onEnd(this) === false;
      if (keepOpen) return;
      if (!this.target) this.endPending = true;
      else if (!this.target.closed) this.target.socket.end();
    });
  }

  get localAddress(): string {
    return this.socket.localAddress ?? '';
  }

  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  get pendingBytes(): number {
    return this.socket.writableLength + this.socket.readableLength;
  }

  forwardTo(to: Endpoint): void {
    this.stopCapture();
    const target = to as NetEndpoint;
    if (this.target !== target) {
      if (this.target) this.socket.unpipe(this.target.socket);
      this.target = target;
      if (!this.sawData) this.socket.once('data', () => this.firstData());
      this.socket.pipe(target.socket, { end: false });
    }
    if (this.endPending) {
      this.endPending = false;
      if (!target.closed) target.socket.end();
      return;
    }
    this.socket.resume();
  }

  capture(): void {
    if (!this.captured) {
      this.captured = (chunk: Buffer) => this.listener.onData(this, chunk);
      this.socket.on('data', this.captured);
    }
    this.socket.resume();
  }

  write(data: Uint8Array): void {
    this.socket.write(data);
  }

  private stopCapture(): void {
    if (this.captured) this.socket.off('data', this.captured);
    this.captured = undefined;
  }

  stopReading(): void {
    this.stopCapture();
    if (this.target) this.socket.unpipe(this.target.socket);
    this.target = undefined;
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  reset(): void {
    if (this.socket.destroyed) return;
    // A socket whose shutdown is in flight cannot be reset (libuv refuses, and the socket
    // would then never close): it is closed plainly.
    if (this.socket.writableEnded && !this.socket.writableFinished) return void this.socket.destroy();
    try {
      this.socket.resetAndDestroy();
    } catch {
      this.socket.destroy();
    }
  }

  dialTimeout(ms: number): void {
    if (ms <= 0) return;
    this.connectTimer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error(`connect timed out after ${ms} ms`);
      err.code = 'ETIMEDOUT';
      this.listener.onError(this, err);
      this.socket.destroy();
    }, ms);
  }

  onConnected(): void {
    this.clearTimer();
    this.dialling = false;
    this.localPort = this.socket.localPort ?? 0;
    this.listener.onConnect(this);
  }

  private firstData(): void {
    if (this.sawData) return;
    this.sawData = true;
    this.listener.onFirstData(this);
  }

  private clearTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}


/** What NetListen uses of the server's libuv handle to pause (see FastListen.pause). */
interface ListenWrap {
  readStart?(): number;
  readStop?(): number;
  listen?(backlog: number): number;
}

class NetListen implements ListenHandle {
  private paused = false;

  constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  get handle(): object {
    // The libuv handle is what crosses to a worker process (`child.send(msg, handle)`).
    return (this.server as unknown as { _handle: object })._handle;
  }

  /** Possible when the handle is readable (made by `listenHandle`, or from another process). */
  pause(): boolean {
    const h = this.handle as ListenWrap | null;
    if (this.paused || !h || typeof h.readStart !== 'function' || typeof h.readStop !== 'function') return this.paused;
    if (h.readStart() !== 0) return false;
    h.readStop();
    this.paused = true;
    return true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const err = (this.handle as ListenWrap | null)?.listen?.(BACKLOG) ?? 0;
    if (err !== 0) this.server.emit('error', uvError(err, 'listen'));
  }

  close(): void {
    // `close`'s callback waits for accepted sockets to end; the port is freed at once.
    this.server.close();
  }
}

function serve(onAccept: (ep: Endpoint) => void): Server {
  return lazyNet().createServer(SERVER_OPTIONS, (socket) => onAccept(new NetEndpoint(socket, unclaimed)));
}

/** Accept errors: a local shortage pauses accepting (the gate logs it); others go to `onError`. */
function onServerError(onError: (err: Error) => void): (err: Error) => void {
  return (err) => {
    if (!acceptGate.check(err, 'accept')) onError(err);
  };
}

function listening(server: Server): NetListen {
  const a = server.address() as AddressInfo;
  return new NetListen(server, a.address, a.port);
}

export const netDataPath: DataPath = {
  name: 'net',

  async listen(host, port, onAccept, onError) {
    // Where the fast path's bindings fit, its socket, which can pause; else `net` alone.
    if (typeof probeFastDataPath() !== 'string') return netDataPath.adopt(await listenHandle(host, port), onAccept, onError);
    return new Promise((resolve, reject) => {
      const server = serve(onAccept);
      server.once('error', reject);
      server.listen({ port, host }, () => {
        server.off('error', reject);
        server.on('error', onServerError(onError));
        resolve(listening(server));
      });
    });
  },

  adopt(handle, onAccept, onError) {
    const server = serve(onAccept);
    server.on('error', onServerError(onError));
    server.listen(handle);
    return listening(server);
  },

  dial(host, port, timeoutMs, listener) {
    const socket = lazyNet().connect({ host, port, allowHalfOpen: true, noDelay: true });
    const ep = new NetEndpoint(socket, listener, { host, port });
    ep.dialTimeout(timeoutMs);
    socket.once('connect', () => ep.onConnected());
    return ep;
  },
};
