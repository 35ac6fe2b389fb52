/**
 * The fast data path: libuv TCP handles straight from Node's `tcp_wrap` and `stream_wrap`
 * bindings (on `process.binding`'s allow-list, not runtime-deprecated), with no
 * `net.Socket`, no stream machinery and no event emitter per connection. An idle proxied
 * connection costs two handles and two small objects.
 *
 * Per chunk: the read callback is one shared function; the chunk libuv read is handed to
 * the other socket's write as is (no copy). A write the kernel takes at once (the usual
 * case) reuses one request object; a write that has to wait stops the reading side until
 * it completes, so at most one chunk per direction waits in the balancer.
 *
 * Why not one static read buffer (`useUserBuffer`): a write that the kernel takes only in
 * part keeps pointing into the buffer it was given, and the next read into a shared
 * buffer would overwrite the part still waiting. libuv allocates each read instead.
 *
 * `probe()` checks the bindings have the shape this file relies on; when they do not
 * (another Node version), the balancer uses the `net` data path instead.
 */
import { createRequire } from 'node:module';
import * as bindings from './fast-bindings.ts';
import { loadBindings, timeoutError, uvError, type AddressOut } from './fast-bindings.ts';
import type { AcceptHandler, DataPath, Endpoint, EndpointListener, ListenHandle } from './types.ts';
import { unclaimed } from './unclaimed.ts';

const BACKLOG = 511;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * 4 or 6 for an address, 0 for a name to resolve; without node:net (see lazy-builtin.ts).
 * Anything with a colon is taken for IPv6 and the bind or connect judges it.
 */
function ipFamily(host: string): 0 | 4 | 6 {
  if (host.includes(':')) return 6;
  return IPV4.test(host) ? 4 : 0;
}
/** What libuv offers Node to read into, per read. */
const LIBUV_READ_SIZE = 65_536;
const BULK_AFTER_FULL_READS = 4;
const BULK_BUFFER_SIZE = 256 * 1024;

/** Diagnostics: how many directions moved to a buffer of their own (bulk transfers). */
export const fastPathCounters = { ownBuffers: 0 };

type TcpHandle = bindings.TcpHandle<FastEndpoint, FastListen>;
type WriteReq = bindings.WriteReq<FastEndpoint>;
type ShutdownReq = bindings.ShutdownReq<FastEndpoint>;
type ConnectReq = bindings.ConnectReq<FastEndpoint>;
let B: bindings.Bindings<FastEndpoint, FastListen>;

// node:dns is loaded by the first host name to resolve: addresses are the usual case.
const require = createRequire(import.meta.url);
let dns: typeof import('node:dns') | undefined;

function lookup(host: string, done: (err: Error | null, address: string, family: number) => void): void {
  dns ??= require('node:dns') as typeof import('node:dns');
  dns.lookup(host, done);
}

const addressOut: AddressOut = {};

/** A request object for writes the kernel takes at once; replaced when one has to wait. */
let spareWrite: WriteReq | undefined;

function newWriteReq(): WriteReq {
  const req = new B.WriteWrap();
  req.oncomplete = onWriteDone;
  req.handle = null;
  req.target = null;
  req.source = null;
  req.buffer = null;
  return req;
}

class FastEndpoint implements Endpoint {
  listener: EndpointListener;
  handle: TcpHandle;
  /** Asked of the kernel only when someone reads it (a syscall per connection saved). */
  private peerAddress: string | undefined;
  private peerPort = 0;
  localPort = 0;
  bytesRead = 0;
  bytesWritten = 0;
  readEnded = false;
  /** destroy() or reset() was called, or an error closed it: no more callbacks but onClose. */
  closed = false;
  pendingBytes = 0;
  private pendingWrites = 0;
  private target: FastEndpoint | null = null;
  /** The endpoint whose reading waits for our pending writes. */
  private blockedSource: FastEndpoint | null = null;
  private reading = false;
  private sawData = false;
  private shutdownWanted = false;
  private shutdownDone = false;
  private shutdownStarted = false;
  private timer: NodeJS.Timeout | undefined;
  private fullReads = 0;
  private ownBuffer: Buffer | undefined;

  constructor(handle: TcpHandle, listener: EndpointListener) {
    this.handle = handle;
    this.listener = listener;
    handle.pbEndpoint = this;
    handle.onread = onRead;
  }

  get remoteAddress(): string {
    if (this.peerAddress === undefined) {
      this.peerAddress = '';
      if (!this.closed && this.handle.getpeername(addressOut) === 0) {
        this.peerAddress = addressOut.address ?? '';
        this.peerPort = addressOut.port ?? 0;
      }
    }
    return this.peerAddress;
  }

  get remotePort(): number {
    if (this.peerAddress === undefined) void this.remoteAddress;
    return this.peerPort;
  }

  /** A dialled endpoint knows whom it dialled. */
  setRemote(address: string, port: number): void {
    this.peerAddress = address;
    this.peerPort = port;
  }

  forwardTo(to: Endpoint): void {
    this.target = to as FastEndpoint;
    if (!this.readEnded) this.startReading();
  }

  stopReading(): void {
    if (!this.reading || this.closed) return;
    this.reading = false;
    this.handle.readStop();
  }

  destroy(): void {
    if (this.closed) return;
    this.markClosed();
    this.handle.close(onHandleClose);
  }

  reset(): void {
    if (this.closed) return;
    this.markClosed();
    // libuv refuses to reset a socket while its shutdown is in flight, and the binding
    // then counts the handle as closing although it is not, so a close after that failed
    // reset would do nothing and the connection would never end (seen once in 3 million
    // in the soak): such a socket is closed plainly instead.
    if (this.shutdownStarted && !this.shutdownDone) return this.handle.close(onHandleClose);
    if (this.handle.reset(onHandleClose) !== 0) {
      // Not closed, and it cannot be any more: at least the connection must end.
      this.listener.onClose(this);
    }
  }

  fail(err: Error): void {
    if (this.closed) return;
    this.listener.onError(this, err);
    this.destroy();
  }

  startReading(): void {
    if (this.reading || this.closed || this.blockedOn()) return;
    const err = this.handle.readStart();
    if (err !== 0) return this.fail(uvError(err, 'read'));
    this.reading = true;
  }

  onData(buffer: ArrayBuffer | undefined, n: number): void {
    if (!this.sawData) {
      this.sawData = true;
      this.listener.onFirstData(this);
      if (this.closed) return;
    }
    this.bytesRead += n;
    const to = this.target;
    if (to === null || to.closed) return;
    const own = this.ownBuffer;
    if (own !== undefined) return to.write(own.subarray(0, n), this);
    to.write(new Uint8Array(buffer!, B.state[B.kArrayBufferOffset], n), this);
    if (n >= LIBUV_READ_SIZE && ++this.fullReads >= BULK_AFTER_FULL_READS) this.takeOwnBuffer();
  }

  /**
   * A bulk transfer: this direction reads into a buffer of its own, larger than libuv's
   * 64 KiB, with no allocation per read. Safe because nothing reads into it again until
   * what was read from it has been written: a write that waits stops this side's reading.
   * Connections that never stream never get one, so idle ones stay small.
   */
  private takeOwnBuffer(): void {
    if (typeof this.handle.useUserBuffer !== 'function') return;
    this.ownBuffer = Buffer.allocUnsafeSlow(BULK_BUFFER_SIZE);
    fastPathCounters.ownBuffers++;
    this.handle.useUserBuffer(this.ownBuffer);
  }

  onEof(): void {
    this.readEnded = true;
    this.reading = false;
    const keepOpen = this.listener.onEnd(this) === false;
    if (this.closed) return;
    const to = this.target;
    if (!keepOpen && to !== null) to.shutdownWhenWritten();
    this.closeIfDone();
  }

  /** Connected by `dial`. */
  onConnected(status: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    if (status < 0) return this.fail(uvError(status, 'connect'));
    this.handle.setNoDelay(true);
    this.listener.onConnect(this);
  }

  dialTimedOut(ms: number): void {
    this.timer = undefined;
    this.fail(timeoutError(ms));
  }

  armTimeout(ms: number): void {
    if (ms > 0) this.timer = setTimeout(onDialTimeout, ms, this, ms);
  }

  connect(host: string, family: number, port: number): void {
    const req = new B.TCPConnectWrap();
    req.oncomplete = onConnectDone;
    req.address = host;
    req.port = port;
    req.endpoint = this;
    const err = family === 6 ? this.handle.connect6(req, host, port) : this.handle.connect(req, host, port);
    if (err !== 0) {
      // Reported on the next tick, as a dial's outcome always is.
      process.nextTick(failLater, this, uvError(err, 'connect'));
    }
  }

  private write(chunk: Uint8Array, source: FastEndpoint): void {
    const req = spareWrite ?? newWriteReq();
    req.handle = this.handle;
    const err = this.handle.writeBuffer(req, chunk);
    this.bytesWritten += chunk.length;
    if (err !== 0) {
      spareWrite = req;
      req.handle = null;
      return this.fail(uvError(err, 'write'));
    }
    if (B.state[B.kLastWriteWasAsync] === 0) {
      spareWrite = req;
      req.handle = null;
      return;
    }
    // The kernel's buffer is full: libuv keeps `chunk` until the write completes.
    spareWrite = undefined;
    req.target = this;
    req.source = source;
    req.buffer = chunk;
    this.pendingWrites++;
    this.pendingBytes += chunk.length;
    this.blockedSource = source;
    source.stopReading();
  }

  afterWrite(req: WriteReq, status: number): void {
    this.pendingWrites--;
    this.pendingBytes -= req.buffer?.length ?? 0;
    req.buffer = null;
    req.target = null;
    req.source = null;
    req.handle = null;
    if (this.closed) return;
    if (status < 0) return this.fail(uvError(status, 'write'));
    if (this.pendingWrites > 0) return;
    if (this.shutdownWanted) {
      if (this.readEnded) return this.destroy();
      this.shutdown();
    }
    const source = this.blockedSource;
    this.blockedSource = null;
    if (source !== null && !source.closed && source.target === this && !source.readEnded) source.startReading();
  }

  private blockedOn(): boolean {
    const to = this.target;
    return to !== null && to.blockedSource === this && to.pendingWrites > 0;
  }

  private shutdownWhenWritten(): void {
    if (this.closed || this.shutdownWanted) return;
    this.shutdownWanted = true;
    if (this.pendingWrites > 0) return;
    // Its peer has ended too and nothing waits to be written: a close sends the FIN and
    // spares a shutdown (a syscall and two epoll changes).
    if (this.readEnded) return this.destroy();
    this.shutdown();
  }

  private shutdown(): void {
    this.shutdownStarted = true;
    const req = new B.ShutdownWrap();
    req.oncomplete = onShutdownDone;
    req.handle = this.handle;
    req.endpoint = this;
    const err = this.handle.shutdown(req);
    if (err !== 0) this.fail(uvError(err, 'shutdown'));
  }

  afterShutdown(status: number): void {
    if (this.closed) return;
    if (status < 0) return this.fail(uvError(status, 'shutdown'));
    this.shutdownDone = true;
    this.closeIfDone();
  }

  /** Both halves are finished: the peer ended and our end was delivered. */
  private closeIfDone(): void {
    if (this.readEnded && this.shutdownDone) this.destroy();
  }

  private markClosed(): void {
    this.closed = true;
    this.reading = false;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const source = this.blockedSource;
    this.blockedSource = null;
    // A source held back by our writes must not wait for them any more.
    if (source !== null && !source.closed && source.target === this) source.target = null;
  }
}

function onRead(this: TcpHandle, buffer: ArrayBuffer | undefined): void {
  const ep = this.pbEndpoint;
  if (ep === undefined || ep.closed) return;
  const n = B.state[B.kReadBytesOrError]!;
  if (n > 0) return ep.onData(buffer, n);
  if (n === 0) return;
  if (n === B.UV_EOF) return ep.onEof();
  ep.fail(uvError(n, 'read'));
}

function onWriteDone(this: WriteReq, status: number): void {
  this.target?.afterWrite(this, status);
}

function onShutdownDone(this: ShutdownReq, status: number): void {
  const ep = this.endpoint;
  this.endpoint = null;
  this.handle = null;
  ep?.afterShutdown(status);
}

function onConnectDone(this: ConnectReq, status: number): void {
  const ep = this.endpoint;
  this.endpoint = null;
  ep?.onConnected(status);
}

function onHandleClose(this: TcpHandle): void {
  const ep = this.pbEndpoint;
  this.pbEndpoint = undefined;
  ep?.listener.onClose(ep);
}

function onDialTimeout(ep: FastEndpoint, ms: number): void {
  ep.dialTimedOut(ms);
}

function failLater(ep: FastEndpoint, err: Error): void {
  ep.fail(err);
}

class FastListen implements ListenHandle {
  host: string;
  port: number;
  readonly handle: TcpHandle;
  private closed = false;

  constructor(
    handle: TcpHandle,
    readonly onAccept: AcceptHandler,
    readonly onError: (err: Error) => void,
  ) {
    this.handle = handle;
    handle.pbListen = this;
    handle.getsockname(addressOut);
    this.host = addressOut.address ?? '';
    this.port = addressOut.port ?? 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.pbListen = undefined;
    this.handle.close();
  }
}

function onConnection(this: TcpHandle, status: number, client?: TcpHandle): void {
  const l = this.pbListen;
  if (l === undefined) return;
  if (status !== 0 || client === undefined) return l.onError(uvError(status, 'accept'));
  client.setNoDelay(true);
  const ep = new FastEndpoint(client, unclaimed);
  ep.localPort = l.port;
  l.onAccept(ep);
}

function bindHandle(host: string, port: number, family: number): TcpHandle | NodeJS.ErrnoException {
  const handle = new B.TCP(B.SERVER);
  let err = family === 6 ? handle.bind6(host, port, 0) : handle.bind(host, port);
  if (err === 0) err = handle.listen(BACKLOG);
  if (err === 0) return handle;
  handle.close();
  return uvError(err, 'listen');
}

function resolve(host: string): Promise<{ address: string; family: number }> {
  const family = ipFamily(host);
  if (family !== 0) return Promise.resolve({ address: host, family });
  return new Promise((ok, fail) => lookup(host, (err, address, fam) => (err ? fail(err) : ok({ address, family: fam }))));
}

export const fastDataPath: DataPath = {
  name: 'fast',

  async listen(host, port, onAccept, onError) {
    let handle: TcpHandle | NodeJS.ErrnoException;
    if (host === undefined) {
      // Every address, IPv6 and IPv4 alike where the machine has IPv6, as `net` does.
      handle = bindHandle('::', port, 6);
      if (handle instanceof Error && handle.code === 'EAFNOSUPPORT') handle = bindHandle('0.0.0.0', port, 4);
    } else {
      const { address, family } = await resolve(host);
      handle = bindHandle(address, port, family);
    }
    if (handle instanceof Error) throw handle;
    handle.onconnection = onConnection;
    return new FastListen(handle, onAccept, onError);
  },

  adopt(raw, onAccept, onError) {
    const handle = raw as TcpHandle;
    const err = handle.listen(BACKLOG);
    if (err !== 0) throw uvError(err, 'listen');
    handle.onconnection = onConnection;
    return new FastListen(handle, onAccept, onError);
  },

  dial(host, port, timeoutMs, listener) {
    const ep = new FastEndpoint(new B.TCP(B.SOCKET), listener);
    ep.setRemote(host, port);
    ep.armTimeout(timeoutMs);
    const family = ipFamily(host);
    if (family !== 0) {
      ep.connect(host, family, port);
    } else {
      lookup(host, (err, address, fam) => {
        if (ep.closed) return;
        if (err) return ep.fail(err);
        ep.setRemote(address, port);
        ep.connect(address, fam, port);
      });
    }
    return ep;
  },
};

/** The fast data path when this Node's bindings fit, else why not. */
export function probeFastDataPath(): DataPath | string {
  const loaded = loadBindings<FastEndpoint, FastListen>();
  if (typeof loaded === 'string') return loaded;
  B = loaded;
  return fastDataPath;
}
