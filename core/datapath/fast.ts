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
import { constants } from 'node:os';
import { lazyBuiltin } from '../lazy-builtin.ts';
import { acceptGate } from './accept-gate.ts';
import { loadBindings, uvError, type Bindings } from './fast-bindings.ts';
import { addressOut, FastEndpoint, useBindings, type TcpHandle } from './fast-endpoint.ts';
import type { AcceptHandler, DataPath, ListenHandle } from './types.ts';
import { unclaimed } from './unclaimed.ts';

const BACKLOG = 511;
/** The bindings, set by the probe; the endpoints get them too (useBindings). */
let B: Bindings<FastEndpoint, FastListen>;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * 4 or 6 for an address, 0 for a name to resolve; without node:net (see lazy-builtin.ts).
 * Anything with a colon is taken for IPv6 and the bind or connect judges it.
 */
function ipFamily(host: string): 0 | 4 | 6 {
  if (host.includes(':')) return 6;
  return IPV4.test(host) ? 4 : 0;
}

/** ipFamily of a node's host, asked on every dial: kept per host (node hosts are few). */
const families = new Map<string, 0 | 4 | 6>();

function dialFamily(host: string): 0 | 4 | 6 {
  let family = families.get(host);
  if (family === undefined) {
    family = ipFamily(host);
    if (families.size >= 4096) families.clear();
    families.set(host, family);
  }
  return family;
}

// node:dns is loaded by the first host name to resolve: addresses are the usual case.
const dns = lazyBuiltin<typeof import('node:dns')>('node:dns');

function lookup(host: string, done: (err: Error | null, address: string, family: number) => void): void {
  dns().lookup(host, done);
}

export class FastListen implements ListenHandle {
  host: string;
  port: number;
  readonly handle: TcpHandle;
  private closed = false;
  private paused = false;

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

  /**
   * libuv stops polling a listening socket only through uv_read_stop, which it allows on a
   * readable handle: one opened from a descriptor (see `listenHandle`) or received from
   * another process. `listen` starts polling again.
   */
  pause(): boolean {
    if (this.closed || this.paused) return this.paused;
    if (this.handle.readStart() !== 0) return false;
    this.handle.readStop();
    this.paused = true;
    return true;
  }

  resume(): void {
    if (this.closed || !this.paused) return;
    this.paused = false;
    const err = this.handle.listen(BACKLOG);
    if (err !== 0) this.onError(uvError(err, 'listen'));
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
  if (status !== 0 || client === undefined) {
    const err = uvError(status, 'accept');
    if (!acceptGate.check(err, 'accept')) l.onError(err);
    return;
  }
  client.setNoDelay(true);
  const ep = new FastEndpoint(client, unclaimed);
  ep.localPort = l.port;
  l.onAccept(ep);
}

/**
 * Binders (see `bindHandle`): each holds the descriptor number of a listening socket that
 * another handle owns. Kept for the life of the process and never closed: closing one
 * would close that descriptor (or, once it is reused, another one).
 */
const binders: TcpHandle[] = [];

/**
 * A listening socket that can pause (FastListen.pause). A handle that binds is not
 * readable in libuv's eyes, and cannot stop polling; one opened from a descriptor is. So
 * a binder handle makes the socket and binds it, and a second handle opens its descriptor
 * and listens. The binder never listens (libuv never polls it) and is never closed.
 * Without `open` (another Node), the binder listens itself and cannot pause.
 */
function bindHandle(host: string, port: number, family: number): TcpHandle | NodeJS.ErrnoException {
  const binder = new B.TCP(B.SERVER);
  let err = family === 6 ? binder.bind6(host, port, 0) : binder.bind(host, port);
  // libuv keeps an EADDRINUSE from bind for the binder's listen, which never comes (and a
  // listen on the unbound socket would pick any port): an unbound socket has port 0.
  if (err === 0 && (binder.getsockname(addressOut) !== 0 || !addressOut.port)) err = -(constants.errno.EADDRINUSE ?? 98);
  if (err !== 0) {
    binder.close();
    return uvError(err, 'listen');
  }
  let handle = binder;
  const fd = binder.fd ?? -1;
  const opened = fd >= 0 && typeof binder.open === 'function' ? new B.TCP(B.SERVER) : undefined;
  if (opened?.open?.(fd) === 0) {
    binders.push(binder);
    handle = opened;
  } else opened?.close();
  err = handle.listen(BACKLOG);
  if (err === 0) return handle;
  handle.close();
  return uvError(err, 'listen');
}

function resolve(host: string): Promise<{ address: string; family: number }> {
  const family = ipFamily(host);
  if (family !== 0) return Promise.resolve({ address: host, family });
  return new Promise((ok, fail) => lookup(host, (err, address, fam) => (err ? fail(err) : ok({ address, family: fam }))));
}

/**
 * A listening handle on `host:port` that can pause (see `bindHandle`); the net data path
 * uses it too while these bindings fit. The error has the system `code` (EADDRINUSE…).
 */
export async function listenHandle(host: string | undefined, port: number): Promise<TcpHandle> {
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
  return handle;
}

export const fastDataPath: DataPath = {
  name: 'fast',

  async listen(host, port, onAccept, onError) {
    const handle = await listenHandle(host, port);
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
    const family = dialFamily(host);
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

let probed: DataPath | string | undefined;

/** The fast data path when this Node's bindings fit, else why not (probed once). */
export function probeFastDataPath(): DataPath | string {
  if (probed !== undefined) return probed;
  const loaded = loadBindings<FastEndpoint, FastListen>();
  if (typeof loaded === 'string') return (probed = loaded);
  B = loaded;
  useBindings(loaded);
  return (probed = fastDataPath);
}
