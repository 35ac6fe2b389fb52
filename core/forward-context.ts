/**
 * The per-connection objects the hooks see (the context and its client view), and the
 * reading of a `Refusal`: what core/forward.ts hands plugins, apart from its decisions.
 */
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ConnectionContext, Peer, Refusal } from './context.ts';
import type { Endpoint, EndpointListener } from './datapath/index.ts';
import type { ClientView } from './types.ts';

let nextId = 1;

/**
 * The client as hooks and algorithms see it. The address is asked of the kernel on first
 * read, so a connection that nothing asks about (round robin, no affinity) costs no
 * syscall for it. A preface may name another client (`replace`): from then on it is
 * that one, for every reader, also those that kept this object.
 */
export class LazyClientView implements ClientView {
  readonly #ep: Endpoint;
  #address: string | undefined;
  #port = 0;

  constructor(
    ep: Endpoint,
    readonly listener: string,
  ) {
    this.#ep = ep;
  }

  get address(): string {
    return this.#address ?? this.#ep.remoteAddress;
  }

  get port(): number {
    return this.#address === undefined ? this.#ep.remotePort : this.#port;
  }

  replace(address: string, port: number): void {
    this.#address = address;
    this.#port = port;
  }

  toJSON(): ClientView {
    return { address: this.address, port: this.port, listener: this.listener };
  }
}

/** The context of one connection. The endpoint is a private field: JSON and spreads never reach the socket. */
export class Context implements ConnectionContext {
  readonly id = nextId++;
  proxiedBy: Peer | undefined = undefined;
  readonly localPort: number;
  node: BalancerNode | undefined = undefined;
  readonly failed: BalancerNode[] = [];
  readonly acceptedAt = Date.now();
  readonly data: Record<string, unknown> = {};
  readonly #ep: Endpoint;

  constructor(
    ep: Endpoint,
    readonly client: LazyClientView,
    readonly cluster: Cluster,
  ) {
    this.#ep = ep;
    this.localPort = ep.localPort;
  }

  get localAddress(): string {
    return this.#ep.localAddress;
  }
}

/** Listens to a node connection that was given up for another one. */
export const discarded: EndpointListener = {
  onConnect: (ep) => ep.destroy(),
  onFirstData() {},
  onData() {},
  onEnd: () => false,
  onError() {},
  onClose() {},
};

/** What a refusal code may look like: one label value of a metric, short and plain. */
const CODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * A refusal's code and message. A string (or a malformed object, or anything else a tap
 * returned) counts under `plain`: the hook's own code ('refused', or 'preface').
 */
export function readRefusal(refusal: Refusal | unknown, plain: string): { code: string; message: string } {
  if (typeof refusal === 'string') return { code: plain, message: refusal };
  if (refusal !== null && typeof refusal === 'object') {
    const { code, message } = refusal as { code?: unknown; message?: unknown };
    return {
      code: typeof code === 'string' && CODE.test(code) ? code : plain,
      message: typeof message === 'string' ? message : String(message ?? code ?? 'refused'),
    };
  }
  return { code: plain, message: String(refusal) };
}
