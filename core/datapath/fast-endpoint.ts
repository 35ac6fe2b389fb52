/**
 * One TCP connection of the fast data path (see fast.ts): a libuv handle, and forwarding
 * with backpressure and half-close. The callbacks libuv calls on it are in
 * fast-callbacks.ts (shared functions reaching the endpoint through a back-pointer on the
 * handle, never a closure per event or per chunk).
 */
import { timeoutError, uvError, type AddressOut } from './fast-bindings.ts';
import { B, dialError, failLater, onConnectDone, onDialTimeout, onHandleClose, onRead, onShutdownDone, onWriteDone } from './fast-callbacks.ts';
import type { TcpHandle, WriteReq } from './fast-callbacks.ts';
import type { Endpoint, EndpointListener } from './types.ts';

export { useBindings, type TcpHandle } from './fast-callbacks.ts';

const LIBUV_READ_SIZE = 65_536;
const BULK_AFTER_FULL_READS = 4;
const BULK_BUFFER_SIZE = 256 * 1024;

/** Diagnostics: how many directions moved to a buffer of their own (bulk transfers). */
export const fastPathCounters = { ownBuffers: 0 };

export const addressOut: AddressOut = {};

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

export class FastEndpoint implements Endpoint {
  listener: EndpointListener;
  handle: TcpHandle;
  /** Asked of the kernel only when someone reads it (a syscall per connection saved). */
  private peerAddress: string | undefined;
  private peerPort = 0;
  private ownAddress: string | undefined;
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
  /** Reads go to the listener's onData, not to a target (see capture). */
  private capturing = false;
  private sawData = false;
  private shutdownWanted = false;
  private shutdownDone = false;
  private shutdownStarted = false;
  private timer: NodeJS.Timeout | undefined;
  private fullReads = 0;
  private ownBuffer: Buffer | undefined;
  /** A dial that failed before it had a socket: its close frees no descriptor. */
  noSocket = false;

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

  get localAddress(): string {
    if (this.ownAddress === undefined) {
      this.ownAddress = !this.closed && this.handle.getsockname(addressOut) === 0 ? (addressOut.address ?? '') : '';
    }
    return this.ownAddress;
  }

  /** A dialled endpoint knows whom it dialled. */
  setRemote(address: string, port: number): void {
    this.peerAddress = address;
    this.peerPort = port;
  }

  forwardTo(to: Endpoint): void {
    this.capturing = false;
    this.target = to as FastEndpoint;
    if (!this.readEnded) this.startReading();
  }

  capture(): void {
    this.capturing = true;
    this.startReading();
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
    if (to === null || to.closed) {
      // Only ever true before forwarding starts: the forwarding path never gets here.
      if (this.capturing) this.listener.onData(this, Buffer.from(buffer!, B.state[B.kArrayBufferOffset], n));
      return;
    }
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
    if (status < 0) return this.fail(dialError(status));
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
      this.noSocket = (this.handle.fd ?? 0) < 0;
      // Reported on the next tick, as a dial's outcome always is.
      process.nextTick(failLater, this, dialError(err));
      return;
    }
    // Polled for reading from now on, so that the socket enters epoll once for the connect
    // and its reads (libuv otherwise drops it from the interest set when the connect ends
    // and adds it again, EEXIST then MOD, for the first read: two epoll_ctl calls spared).
    // libuv reports the connect before any read, and the owner forwards from onConnect.
    this.startReading();
  }

  /** `source`: the endpoint `chunk` was read from, held back while the kernel cannot take it. */
  write(chunk: Uint8Array, source: FastEndpoint | null = null): void {
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
    if (source === null) return;
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

  /**
   * Both halves are finished: the peer ended, and our end was delivered or is about to be.
   * A shutdown that libuv has queued but not yet made (it runs after this poll phase) is
   * spared when the peer's FIN is read meanwhile, as it usually is (a client closing once
   * its answer has come): a close sends the FIN alike, nothing being unread or unwritten.
   * That saves a shutdown syscall, its callback and an epoll change per such connection.
   */
  private closeIfDone(): void {
    if (this.readEnded && (this.shutdownDone || (this.shutdownStarted && this.pendingWrites === 0))) this.destroy();
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
