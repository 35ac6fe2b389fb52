/**
 * The forwarding of one client connection: choose a node through the hooks, dial it
 * (with its connect timeout), then move bytes both ways unchanged. Sockets are the data
 * path's business (core/datapath/): this file is the decisions once a node is dialled;
 * core/forward-admit.ts holds those before (preface, accept, choice, claims, the wait).
 *
 * - The client is not read while dialling: early client bytes wait in the kernel and
 *   reach whichever node answers, after the node's preamble and the bytes held before.
 * - Backpressure: the data path stops reading one side while the other cannot take more.
 * - Half-close: an end on one side ends the other side's write half only, and the reverse
 *   direction keeps flowing until it ends too.
 * - Resets: an error on one side resets the other (RST), so each peer sees what the
 *   other did. Nothing on one connection can reach the process.
 */
import type { BalancerNode, Cluster } from './cluster.ts';
import { isLocalShortage } from './datapath/accept-gate.ts';
import type { DataPath, Endpoint, EndpointListener } from './datapath/index.ts';
import { describeError } from './errors.ts';
import { Admission, type RefusalCounter } from './forward-admit.ts';
import { discarded } from './forward-context.ts';
import type { Generation } from './generation.ts';
import { FAILED_PREAMBLE } from './hooks.ts';
import type { Logger } from './logger.ts';

export interface ConnectionTracker extends RefusalCounter {
  add(conn: Connection): void;
  delete(conn: Connection): void;
}

export class Connection extends Admission implements EndpointListener {
  upstream: Endpoint | undefined;
  /** Idle bookkeeping, kept by the balancer's sweep (core/idle.ts). */
  idleBytes = -1;
  idleSince = 0;
  private readonly dataPath: DataPath;
  private readonly connections: ConnectionTracker;
  private dialStart = 0;
  private clientClosed = false;
  private upstreamClosed = false;

  constructor(client: Endpoint, gen: Generation, cluster: Cluster, listener: string, logger: Logger, tracker: ConnectionTracker, dataPath: DataPath) {
    super(client, gen, cluster, listener, logger, tracker);
    this.dataPath = dataPath;
    this.connections = tracker;
    client.listener = this;
    tracker.add(this);
  }

  /** Bytes held in the balancer's own buffers for this connection, both directions. */
  get bufferedBytes(): number {
    return this.client.pendingBytes + (this.upstream?.pendingBytes ?? 0) + (this.held?.length ?? 0);
  }

  /** Close both sides now (shutdown, Red node, idle timeout). */
  kill(reason: string): void {
    if (this.phase === 'done') return;
    this.outcome = 'killed';
    this.reason = reason;
    this.client.destroy();
    this.upstream?.destroy();
    // No node yet: nothing else to wait for (and no preface timer may refuse it meanwhile).
    if (this.phase === 'prefacing' || this.phase === 'waiting') this.finish();
  }

  protected dial(node: BalancerNode): void {
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
    this.phase = 'choosing';
    node.failures++;
    node.recentFailures++;
    node.available = false;
    node.retryAt = Date.now() + this.gen.config.retryInterval;
    this.ctx.failed.push(node);
    this.lastFailure = describeError(err);
    this.logger.warn(
      { conn: this.ctx.id, client: this.ctx.client.address, node: node.key, address: node.address, err: this.lastFailure },
      'node unavailable for this connection',
    );
    this.claims?.release();
    const cap = this.gen.config.maxFallovers;
    if (this.ctx.failed.length > cap) {
      const tried = this.ctx.failed.map((n) => n.key).join(', ');
      return this.abort('unavailable', `gave up after ${cap} fall-overs (maxFallovers; tried ${tried}; last: ${this.lastFailure})`, 'warn', 'unavailable');
    }
    try {
      let next = this.gen.hooks.fallover.call(this.ctx, node, err);
      if (next && this.ctx.failed.includes(next)) next = undefined;
      this.proceed(next ?? this.choose(), node);
    } catch (e) {
      this.pluginFailed(e);
    }
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
    if (this.gen.hooks.nodePreamble.isUsed() && !this.sendPreamble(upstream, node)) return;
    if (this.held !== undefined) {
      upstream.write(this.held);
      this.held = undefined;
    }
    // Both directions flow at once. The first byte either way ends any fall-over; an end
    // or reset from a node that has sent nothing, to a client that has sent nothing, can
    // still fall over (see nothingPassed).
    this.client.forwardTo(upstream);
    upstream.forwardTo(this.client);
  }

  /** The node's preamble, written first; false when its tap failed (the connection is closed: never half a header). */
  private sendPreamble(upstream: Endpoint, node: BalancerNode): boolean {
    let bytes: unknown;
    try {
      bytes = this.gen.hooks.nodePreamble.call(this.ctx, node);
    } catch (err) {
      this.logger.error({ conn: this.ctx.id, node: node.key, err: describeError(err) }, 'a nodePreamble hook failed');
      bytes = FAILED_PREAMBLE;
    }
    if (bytes === undefined) return true;
    if (bytes === FAILED_PREAMBLE || !(bytes instanceof Uint8Array)) {
      this.kill(`a plugin failed on this connection (nodePreamble for node ${node.key})`);
      return false;
    }
    if (bytes.length > 0) upstream.write(bytes);
    return true;
  }

  onFirstData(ep: Endpoint): void {
    if (ep === this.upstream && this.phase === 'connected') this.phase = 'piping';
  }

  onEnd(ep: Endpoint): boolean {
    if (ep === this.client) {
      if (this.phase === 'prefacing') this.refuse(`the client ended before its preface was complete (${this.preface?.bytes ?? 0} bytes)`, this.prefaceCode);
      else if (this.phase === 'waiting') this.leftWhileWaiting('the client ended while waiting for a node');
      return true;
    }
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
   * must not make the node look unavailable when it closes in turn). A preface the
   * client sent is no byte passed: the node never saw it.
   */
  private nothingPassed(): boolean {
    return (
      this.phase === 'connected' &&
      this.client.bytesRead === this.prefaceBytes &&
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
    this.claims?.release();
    this.abort('refused', `local shortage, not node ${node.key}'s fault: ${describeError(err)}`, 'debug', 'local-shortage');
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
    if (!this.clientClosed) return;
    // A client that goes before its preface is complete is refused like one that ends it short.
    if (this.phase === 'prefacing') return this.refuse('the client closed before its preface was complete', this.prefaceCode);
    if (this.phase === 'waiting') {
      this.noteReset('client closed while waiting for a node');
      this.finish();
    }
  }

  protected finish(): void {
    if (this.phase === 'done') return;
    const wasPiping = this.phase === 'piping' || this.phase === 'connected';
    this.phase = 'done';
    this.connections.delete(this);
    if (this.prefaceTimer !== undefined) clearTimeout(this.prefaceTimer);
    this.held = undefined;
    const node = this.ctx.node;
    const bytesFromClient = this.client.bytesRead;
    const bytesToClient = this.client.bytesWritten;
    if (node && wasPiping) {
      node.activeConnections--;
      node.bytesIn += bytesFromClient;
      node.bytesOut += bytesToClient;
    }
    this.claims?.release();
    try {
      this.gen.hooks.closed.call(this.ctx, {
        bytesFromClient,
        bytesToClient,
        durationMs: Date.now() - this.ctx.acceptedAt,
        outcome: this.outcome,
        reason: this.reason,
        refusal: this.refusal,
      });
    } catch (err) {
      this.logger.error({ conn: this.ctx.id, err: describeError(err) }, 'a closed hook failed');
    }
  }
}
