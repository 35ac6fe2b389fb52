/**
 * The forwarding of one client connection: choose a node through the hooks, dial it
 * (with its connect timeout), then move bytes both ways unchanged. Sockets are the data
 * path's business (core/datapath/): this file is the decisions.
 *
 * - The client is not read while dialling: early client bytes wait in the kernel and
 *   reach whichever node answers.
 * - Backpressure: the data path stops reading one side while the other cannot take more.
 * - Half-close: an end on one side ends the other side's write half only, and the reverse
 *   direction keeps flowing until it ends too.
 * - Resets: an error on one side resets the other (RST), so each peer sees what the
 *   other did. Nothing on one connection can reach the process.
 */
import { chooseNode } from './choose.ts';
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ConnectionContext, ConnectionOutcome } from './context.ts';
import { isLocalShortage } from './datapath/accept-gate.ts';
import type { DataPath, Endpoint, EndpointListener } from './datapath/index.ts';
import { describeError } from './errors.ts';
import type { Generation } from './generation.ts';
import type { Logger } from './logger.ts';
import type { ClientView } from './types.ts';

export interface ConnectionTracker {
  add(conn: Connection): void;
  delete(conn: Connection): void;
  /** A client of `listener` was turned away (refused by a plugin, or no node could take it). */
  refused(listener: string): void;
}

let nextId = 1;

/**
 * The client as hooks and algorithms see it. The address is asked of the kernel on first
 * read, so a connection that nothing asks about (round robin, no affinity) costs no
 * syscall for it.
 */
class LazyClientView implements ClientView {
  constructor(
    private readonly ep: Endpoint,
    readonly listener: string,
  ) {}

  get address(): string {
    return this.ep.remoteAddress;
  }

  get port(): number {
    return this.ep.remotePort;
  }

  toJSON(): ClientView {
    return { address: this.address, port: this.port, listener: this.listener };
  }
}

/** Listens to a node connection that was given up for another one. */
const discarded: EndpointListener = {
  onConnect: (ep) => ep.destroy(),
  onFirstData() {},
  onEnd: () => false,
  onError() {},
  onClose() {},
};

export class Connection implements EndpointListener {
  readonly ctx: ConnectionContext;
  readonly client: Endpoint;
  upstream: Endpoint | undefined;
  /** Idle bookkeeping, kept by the balancer's sweep (core/idle.ts). */
  idleBytes = -1;
  idleSince = 0;
  private readonly gen: Generation;
  private readonly logger: Logger;
  private readonly tracker: ConnectionTracker;
  private readonly dataPath: DataPath;
  /** connected: TCP is up but no byte has come from the node yet. */
  private phase: 'choosing' | 'dialing' | 'connected' | 'piping' | 'done' = 'choosing';
  private dialStart = 0;
  private clientClosed = false;
  private upstreamClosed = false;
  private outcome: ConnectionOutcome = 'closed';
  private reason: string | undefined;

  constructor(
    client: Endpoint,
    gen: Generation,
    cluster: Cluster,
    listener: string,
    logger: Logger,
    tracker: ConnectionTracker,
    dataPath: DataPath,
  ) {
    this.client = client;
    this.gen = gen;
    this.logger = logger;
    this.tracker = tracker;
    this.dataPath = dataPath;
    this.ctx = {
      id: nextId++,
      client: new LazyClientView(client, listener),
      localPort: client.localPort,
      cluster,
      node: undefined,
      failed: [],
      acceptedAt: Date.now(),
      data: {},
    };
    client.listener = this;
    tracker.add(this);
  }

  /** Run the connection: accept hook, choice, dial. Never throws. */
  start(): void {
    try {
      const refusal = this.gen.hooks.accept.call(this.ctx);
      if (refusal !== undefined) return this.abort('refused', refusal, 'info');
      const node = this.choose();
      if (!node) return this.abort('no-node', `no node of cluster ${this.ctx.cluster.name} is available`, 'warn');
      this.dial(node);
    } catch (err) {
      this.abort('killed', `a plugin failed: ${describeError(err)}`, 'error');
    }
  }

  /** Bytes held in the balancer's own buffers for this connection, both directions. */
  get bufferedBytes(): number {
    return this.client.pendingBytes + (this.upstream?.pendingBytes ?? 0);
  }

  /** Close both sides now (shutdown, Red node, idle timeout). */
  kill(reason: string): void {
    if (this.phase === 'done') return;
    this.outcome = 'killed';
    this.reason = reason;
    this.client.destroy();
    this.upstream?.destroy();
  }

  private choose(): BalancerNode | undefined {
    const bound = this.ctx.failed.length === 0 ? this.gen.hooks.resolveAffinity.call(this.ctx) : undefined;
    return chooseNode(this.gen, this.ctx, bound);
  }

  private dial(node: BalancerNode): void {
    this.phase = 'dialing';
    this.ctx.node = node;
    this.dialStart = Date.now();
    this.upstreamClosed = false;
    this.upstream = this.dataPath.dial(node.host, node.port ?? this.ctx.localPort, node.connectTimeout, this);
  }

  /**
   * The node failed before any byte passed either way (refused, timed out, or reset or
   * closed right after accepting): it is marked unavailable until the retry interval has
   * passed, and the client, still untouched, goes to the next node.
   */
  private nodeFailed(upstream: Endpoint, node: BalancerNode, err: Error): void {
    if (this.phase === 'connected') {
      this.client.stopReading();
      node.activeConnections--;
      node.totalConnections--;
    }
    upstream.listener = discarded;
    upstream.destroy();
    this.upstream = undefined;
    this.phase = 'dialing';
    node.failures++;
    node.recentFailures++;
    node.available = false;
    node.retryAt = Date.now() + this.gen.config.retryInterval;
    this.ctx.failed.push(node);
    this.logger.warn(
      { conn: this.ctx.id, client: this.ctx.client.address, node: node.key, address: node.address, err: describeError(err) },
      'node unavailable for this connection',
    );
    const cap = this.gen.config.maxFallovers;
    const tried = () => this.ctx.failed.map((n) => n.key).join(', ');
    if (this.ctx.failed.length > cap) {
      return this.abort('unavailable', `gave up after ${cap} fall-overs (maxFallovers; tried ${tried()}; last: ${describeError(err)})`, 'warn');
    }
    let next: BalancerNode | undefined;
    try {
      next = this.gen.hooks.fallover.call(this.ctx, node, err);
      if (next && this.ctx.failed.includes(next)) next = undefined;
      next ??= this.choose();
    } catch (e) {
      return this.abort('killed', `a plugin failed: ${describeError(e)}`, 'error');
    }
    if (next) {
      node.fallovers++;
      return this.dial(next);
    }
    this.abort('unavailable', `no node could be reached (tried ${tried()}; last: ${describeError(err)})`, 'warn');
  }

  onConnect(upstream: Endpoint): void {
    const node = this.ctx.node;
    if (this.phase !== 'dialing' || this.upstream !== upstream || !node) return;
    if (this.clientClosed) {
      upstream.destroy();
      return this.finish();
    }
    this.phase = 'connected';
    node.connectLatency = Date.now() - this.dialStart;
    node.activeConnections++;
    node.totalConnections++;
    node.recentFailures = 0;
    node.available = true;
    node.retryAt = 0;
    try {
      this.gen.hooks.connected.call(this.ctx, node);
    } catch (err) {
      this.logger.error({ conn: this.ctx.id, err: describeError(err) }, 'a connected hook failed');
    }
    // Both directions flow at once. The first byte either way ends any fall-over; an end
    // or reset from a node that has sent nothing, to a client that has sent nothing, can
    // still fall over (see nothingPassed).
    this.client.forwardTo(upstream);
    upstream.forwardTo(this.client);
  }

  onFirstData(ep: Endpoint): void {
    if (ep === this.upstream && this.phase === 'connected') this.phase = 'piping';
  }

  onEnd(ep: Endpoint): boolean {
    if (ep !== this.upstream) return true;
    const node = this.ctx.node;
    if (node && this.nothingPassed()) {
      this.nodeFailed(ep, node, new Error('closed by the node before any byte passed'));
      return false;
    }
    if (this.phase === 'connected') this.phase = 'piping';
    return true;
  }

  /**
   * True while no byte has passed either way on the current node connection and the
   * client has not ended its side (a client that connects and closes, like a port check,
   * must not make the node look unavailable when it closes in turn).
   */
  private nothingPassed(): boolean {
    return (
      this.phase === 'connected' &&
      this.client.bytesRead === 0 &&
      !this.client.readEnded &&
      (this.upstream?.bytesRead ?? 0) === 0
    );
  }

  onError(ep: Endpoint, err: Error): void {
    if (this.phase === 'done') return;
    if (ep === this.client) {
      this.noteReset(`client: ${describeError(err)}`);
      this.upstream?.reset();
      return;
    }
    const node = this.ctx.node;
    if (ep !== this.upstream || !node) return;
    if (this.phase === 'dialing' && isLocalShortage(err, 'dial')) return this.localShortage(ep, node, err);
    if (this.phase === 'dialing' || this.nothingPassed()) return this.nodeFailed(ep, node, err);
    this.noteReset(`node ${node.key}: ${describeError(err)}`);
    this.client.reset();
  }

  /**
   * The balancer itself is short of descriptors, buffers, memory or local ports: the node
   * is not blamed (no failure counted, it stays available) and no other node is tried
   * (each would fail alike). The client is turned away; accepting has paused (the data
   * path told core/datapath/accept-gate.ts, which logs the shortage once a second).
   */
  private localShortage(upstream: Endpoint, node: BalancerNode, err: Error): void {
    upstream.listener = discarded;
    upstream.destroy();
    this.upstream = undefined;
    this.ctx.node = undefined;
    this.abort('refused', `local shortage, not node ${node.key}'s fault: ${describeError(err)}`, 'debug');
  }

  private noteReset(reason: string): void {
    if (this.outcome !== 'closed') return;
    this.outcome = 'reset';
    this.reason = reason;
  }

  /** Both endpoints (or the client alone, when no node was connected) closed: the end. */
  onClose(ep: Endpoint): void {
    if (ep === this.client) this.clientClosed = true;
    else if (ep === this.upstream) this.upstreamClosed = true;
    else return;
    if (this.phase === 'piping' || this.phase === 'connected') {
      if (this.clientClosed && this.upstreamClosed) return this.finish();
      // One side gone for good after a reset or kill: the other cannot be used any more.
      const other = this.clientClosed ? this.upstream : this.client;
      if (other && !other.closed && this.outcome !== 'closed') other.reset();
      return;
    }
    if (this.phase === 'dialing' && this.clientClosed) {
      // The client left while we dialled: give up on the node.
      if (this.upstream) this.upstream.listener = discarded;
      this.upstream?.destroy();
      this.noteReset('client closed while dialling');
      return this.finish();
    }
  }

  /** Turn the client away before any node served it: counted as the listener's refusal. */
  private abort(outcome: ConnectionOutcome, reason: string, level: 'debug' | 'info' | 'warn' | 'error'): void {
    this.outcome = outcome;
    this.reason = reason;
    this.logger[level]({ conn: this.ctx.id, client: this.ctx.client.address, cluster: this.ctx.cluster.name }, reason);
    this.tracker.refused(this.ctx.client.listener);
    this.client.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.phase === 'done') return;
    const wasPiping = this.phase === 'piping' || this.phase === 'connected';
    this.phase = 'done';
    this.tracker.delete(this);
    const node = this.ctx.node;
    const bytesFromClient = this.client.bytesRead;
    const bytesToClient = this.client.bytesWritten;
    if (node && wasPiping) {
      node.activeConnections--;
      node.bytesIn += bytesFromClient;
      node.bytesOut += bytesToClient;
    }
    try {
      this.gen.hooks.closed.call(this.ctx, {
        bytesFromClient,
        bytesToClient,
        durationMs: Date.now() - this.ctx.acceptedAt,
        outcome: this.outcome,
        reason: this.reason,
      });
    } catch (err) {
      this.logger.error({ conn: this.ctx.id, err: describeError(err) }, 'a closed hook failed');
    }
  }
}
