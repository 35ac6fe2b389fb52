/** What the hooks know about one client connection as it goes through the balancer. */
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ClientView } from './types.ts';

export type ConnectionOutcome =
  /** Both sides closed normally (each end sent FIN). */
  | 'closed'
  /** One side reset or failed mid-stream; the other was reset too. */
  | 'reset'
  /** A plugin refused the client (accept, preface, waitForNode), or the balancer was short of a local resource. */
  | 'refused'
  /** No node could be chosen (none configured, or every candidate filtered out). */
  | 'no-node'
  /** Every node tried failed to connect. */
  | 'unavailable'
  /** Closed by the balancer: idle timeout, a Red node, shutdown, or a failed plugin. */
  | 'killed';

/**
 * Why a client is turned away. A plain string is the message, counted under the code
 * `'refused'`; an object gives its own code, counted per listener in metrics and status
 * (`protobalance_listener_refusals_total{listener,reason}`, `refusedBy`). A code is a
 * short name (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 characters); any other counts as
 * `'refused'`. Keep codes few and fixed: each is a metric series.
 */
export type Refusal = string | { code: string; message: string };

/** A client address and port. */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

/** What a `preface` tap hands the core: how to read what the client sends first. */
export interface PrefaceReader {
  /** Refuse (code 'preface') when the preface is not complete within this many ms. */
  timeout: number;
  /** Refuse when this many bytes arrived and `parse` still wants more. */
  maxBytes: number;
  /** Called with ALL bytes received so far (one growing Buffer) after each read. */
  parse(received: Buffer): PrefaceResult;
  /**
   * The code the core's own refusals of this preface count under: the deadline, too many
   * bytes, a client that ends first, a parse that fails. Default 'preface'.
   */
  code?: string;
}

/** What `PrefaceReader.parse` says of the bytes received so far. */
export type PrefaceResult =
  /** Wants more bytes. */
  | { done: false }
  /**
   * The preface ends before byte `consumed` (0 ≤ consumed ≤ received.length): those bytes
   * are dropped, the rest goes to the node first. `client`: the real client, which
   * `ctx.client` reports from now on.
   */
  | { done: true; consumed: number; client?: { address: string; port: number } }
  /** Refuse the client with this (a plain string counts under the code 'preface'). */
  | { error: Refusal };

export interface ConnectionContext {
  /** Process-unique, increasing. */
  readonly id: number;
  /**
   * The client: the socket's peer, or the client a `preface` named (from then on; for
   * affinity, client-hash, accept taps, logs and status alike).
   */
  readonly client: ClientView;
  /** The socket's own peer when a `preface` replaced the client (a balancer in front); else undefined. */
  readonly proxiedBy: Peer | undefined;
  /** The address the client dialled (the listener's bound address for this socket), asked of the kernel on first read. */
  readonly localAddress: string;
  /** The port the client dialled (matters for port-range listeners). */
  readonly localPort: number;
  /** The cluster the listener routed to when the client arrived. */
  readonly cluster: Cluster;
  /** The node the connection is dialling or forwarded to. */
  node: BalancerNode | undefined;
  /** Nodes that failed to connect for this client, in order. */
  readonly failed: BalancerNode[];
  /** Epoch ms when the client was accepted. */
  readonly acceptedAt: number;
  /** Free space for plugins to keep per-connection data, keyed by plugin name. */
  readonly data: Record<string, unknown>;
}

export interface ConnectionTotals {
  /** Bytes received from the client (a preface included; sent on to the node but for it). */
  readonly bytesFromClient: number;
  /** Bytes received from the node (and sent on to the client). */
  readonly bytesToClient: number;
  readonly durationMs: number;
  readonly outcome: ConnectionOutcome;
  /** Why it ended that way, when not a normal close. */
  readonly reason: string | undefined;
  /** When the client was turned away without a node: the code it was counted under (`refusedBy`). */
  readonly refusal: string | undefined;
}
