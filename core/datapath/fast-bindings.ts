/**
 * The shape of Node's internal `tcp_wrap` and `stream_wrap` bindings as the fast data path
 * uses them, and the check that this Node has exactly that shape (names, functions, the
 * shared state array); errors from libuv status codes.
 */
import { constants } from 'node:os';

/** E and L: what fast.ts hangs on handles and requests as back-pointers. */
export interface TcpHandle<E = unknown, L = unknown> {
  /** Accessors that accept functions only (setting null aborts the process). */
  onread: (this: TcpHandle<E, L>, buffer: ArrayBuffer | undefined) => void;
  onconnection: (this: TcpHandle<E, L>, status: number, client?: TcpHandle<E, L>) => void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq<E>, data: Uint8Array): number;
  shutdown(req: ShutdownReq<E>): number;
  /** The callback is called with the handle as `this`. */
  close(cb?: (this: TcpHandle<E, L>) => void): void;
  reset(cb?: (this: TcpHandle<E, L>) => void): number;
  setNoDelay(on: boolean): number;
  getpeername(out: AddressOut): number;
  getsockname(out: AddressOut): number;
  connect(req: ConnectReq<E>, address: string, port: number): number;
  connect6(req: ConnectReq<E>, address: string, port: number): number;
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  listen(backlog: number): number;
  /** uv_tcp_open: adopt a socket descriptor (the handle is then readable, so it can pause). */
  open?(fd: number): number;
  /** The socket's descriptor (-1 once closed). */
  readonly fd?: number;
  /** Read into this buffer from now on (the data path's own, per direction). */
  useUserBuffer?(buffer: Uint8Array): void;
  /** Our back-pointers, set on the handle object so that callbacks need no closures. */
  pbEndpoint?: E;
  pbListen?: L;
}

export interface AddressOut {
  address?: string;
  port?: number;
  family?: string;
}

export interface WriteReq<E = unknown> {
  /** Kept so the handle outlives the request. */
  handle: object | null;
  oncomplete: (this: WriteReq<E>, status: number) => void;
  target: E | null;
  source: E | null;
  buffer: Uint8Array | null;
}

export interface ShutdownReq<E = unknown> {
  /** Kept so the handle outlives the request. */
  handle: object | null;
  oncomplete: (this: ShutdownReq<E>, status: number) => void;
  endpoint: E | null;
}

export interface ConnectReq<E = unknown> {
  oncomplete: (this: ConnectReq<E>, status: number) => void;
  address: string;
  port: number;
  endpoint: E | null;
}

export interface Bindings<E = unknown, L = unknown> {
  TCP: new (type: number) => TcpHandle<E, L>;
  TCPConnectWrap: new () => ConnectReq<E>;
  WriteWrap: new () => WriteReq<E>;
  ShutdownWrap: new () => ShutdownReq<E>;
  SOCKET: number;
  SERVER: number;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
}

export function loadBindings<E, L>(): Bindings<E, L> | string {
  const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
  if (typeof binding !== 'function') return 'process.binding is not available';
  try {
    const tcp = binding('tcp_wrap') as Record<string, any>;
    const stream = binding('stream_wrap') as Record<string, any>;
    const uv = binding('uv') as Record<string, any>;
    const TCP = tcp.TCP;
    const needs: [string, unknown][] = [
      ['tcp_wrap.TCP', TCP],
      ['tcp_wrap.TCPConnectWrap', tcp.TCPConnectWrap],
      ['stream_wrap.WriteWrap', stream.WriteWrap],
      ['stream_wrap.ShutdownWrap', stream.ShutdownWrap],
    ];
    for (const [name, value] of needs) if (typeof value !== 'function') return `${name} is missing`;
    for (const m of ['readStart', 'readStop', 'writeBuffer', 'shutdown', 'close', 'reset', 'setNoDelay', 'getpeername', 'getsockname', 'connect', 'connect6', 'bind', 'bind6', 'listen']) {
      if (typeof TCP.prototype[m] !== 'function') return `TCP.prototype.${m} is missing`;
    }
    const state = stream.streamBaseState;
    if (!(state instanceof Int32Array)) return 'stream_wrap.streamBaseState is missing';
    for (const k of ['kReadBytesOrError', 'kArrayBufferOffset', 'kLastWriteWasAsync']) {
      if (typeof stream[k] !== 'number') return `stream_wrap.${k} is missing`;
    }
    if (typeof tcp.constants?.SOCKET !== 'number' || typeof tcp.constants?.SERVER !== 'number') return 'tcp_wrap.constants is missing';
    return {
      TCP,
      TCPConnectWrap: tcp.TCPConnectWrap,
      WriteWrap: stream.WriteWrap,
      ShutdownWrap: stream.ShutdownWrap,
      SOCKET: tcp.constants.SOCKET,
      SERVER: tcp.constants.SERVER,
      state,
      kReadBytesOrError: stream.kReadBytesOrError,
      kArrayBufferOffset: stream.kArrayBufferOffset,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
      UV_EOF: typeof uv.UV_EOF === 'number' ? uv.UV_EOF : -4095,
    };
  } catch (err) {
    return `internal bindings refused: ${(err as Error).message}`;
  }
}

/** libuv status (a negative errno on Unix) → name, from os.constants (node:util costs start-up). */
let errnoNames: Map<number, string> | undefined;

function errnoName(status: number): string {
  errnoNames ??= new Map(Object.entries(constants.errno).map(([name, n]) => [-n, name]));
  return errnoNames.get(status) ?? (status === -4095 ? 'EOF' : `UV${status}`);
}

export function uvError(status: number, syscall: string): NodeJS.ErrnoException {
  const code = errnoName(status);
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = syscall;
  return err;
}

export function timeoutError(ms: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`connect timed out after ${ms} ms`);
  err.code = 'ETIMEDOUT';
  return err;
}
