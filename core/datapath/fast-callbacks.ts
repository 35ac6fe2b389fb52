/**
 * The functions libuv calls on the fast data path's handles and requests (see
 * fast-endpoint.ts): one shared function per event, reaching the endpoint through a
 * back-pointer on the handle or request, never a closure per event or per chunk. Also the
 * bindings, once fast.ts has probed them.
 */
import * as bindings from './fast-bindings.ts';
import { uvError } from './fast-bindings.ts';
import { acceptGate } from './accept-gate.ts';
import type { FastEndpoint } from './fast-endpoint.ts';
import type { FastListen } from './fast.ts';

export type TcpHandle = bindings.TcpHandle<FastEndpoint, FastListen>;
export type WriteReq = bindings.WriteReq<FastEndpoint>;
export type ShutdownReq = bindings.ShutdownReq<FastEndpoint>;
export type ConnectReq = bindings.ConnectReq<FastEndpoint>;
export let B: bindings.Bindings<FastEndpoint, FastListen>;

/** The bindings, once fast.ts has probed them. */
export function useBindings(loaded: bindings.Bindings<FastEndpoint, FastListen>): void {
  B = loaded;
}

export function onRead(this: TcpHandle, buffer: ArrayBuffer | undefined): void {
  const ep = this.pbEndpoint;
  if (ep === undefined || ep.closed) return;
  const n = B.state[B.kReadBytesOrError]!;
  if (n > 0) return ep.onData(buffer, n);
  if (n === 0) return;
  if (n === B.UV_EOF) return ep.onEof();
  ep.fail(uvError(n, 'read'));
}

export function onWriteDone(this: WriteReq, status: number): void {
  this.target?.afterWrite(this, status);
}

export function onShutdownDone(this: ShutdownReq, status: number): void {
  const ep = this.endpoint;
  this.endpoint = null;
  this.handle = null;
  ep?.afterShutdown(status);
}

export function onConnectDone(this: ConnectReq, status: number): void {
  const ep = this.endpoint;
  this.endpoint = null;
  ep?.onConnected(status);
}

export function onHandleClose(this: TcpHandle): void {
  const ep = this.pbEndpoint;
  this.pbEndpoint = undefined;
  if (ep?.noSocket === false) acceptGate.released();
  ep?.listener.onClose(ep);
}

export function onDialTimeout(ep: FastEndpoint, ms: number): void {
  ep.dialTimedOut(ms);
}

/** A failed dial; one for want of descriptors (or buffers, ports) pauses accepting. */
export function dialError(status: number): NodeJS.ErrnoException {
  const err = uvError(status, 'connect');
  acceptGate.check(err, 'dial');
  return err;
}

export function failLater(ep: FastEndpoint, err: Error): void {
  ep.fail(err);
}
