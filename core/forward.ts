/**
 * The forwarding of one client connection: choose a node through the hooks, dial it
 * (with its connect timeout), then pump bytes both ways unchanged.
 *
 * - The client socket arrives paused (`pauseOnConnect`): nothing is read while dialling,
 *   so early client bytes wait in the kernel and reach whichever node answers.
 * - Backpressure: `pipe` stops reading one side while the other's write buffer is full,
 *   so the balancer holds at most about one high-water mark per direction.
 * - Half-close: both sockets allow half-open; an end on one side ends the other side's
 *   write half only, and the reverse direction keeps flowing until it ends too.
 * - Resets: an error on one side resets the other (RST), so each peer sees what the
 *   other did. Every socket always has an error listener: nothing reaches the process.
 */
import net, { type Socket } from 'node:net';
import { chooseNode } from './choose.ts';
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ConnectionContext, ConnectionOutcome } from './context.ts';
import { describeError } from './errors.ts';
import type { Generation } from './generation.ts';
import type { Logger } from './logger.ts';

export interface ConnectionTracker {
  add(conn: Connection): void;
  delete(conn: Connection): void;
}

let nextId = 1;

class DialTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`connect timed out after ${ms} ms`);
  }
}

const ignoreError = () => {};

function resetSocket(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export class Connection {
  readonly ctx: ConnectionContext;
  readonly client: Socket;
  upstream: Socket | undefined;
  private readonly gen: Generation;
  private readonly logger: Logger;
  private readonly tracker: ConnectionTracker;
  /** connected: TCP is up but no byte has come from the node yet. */
  private phase: 'choosing' | 'dialing' | 'connected' | 'piping' | 'done' = 'choosing';
  private dialStart = 0;
  private closedSockets = 0;
  private outcome: ConnectionOutcome = 'closed';
  private reason: string | undefined;

  constructor(client: Socket, gen: Generation, cluster: Cluster, listener: string, logger: Logger, tracker: ConnectionTracker) {
    this.client = client;
    this.gen = gen;
    this.logger = logger;
    this.tracker = tracker;
    this.ctx = {
      id: nextId++,
      client: { address: client.remoteAddress ?? '', port: client.remotePort ?? 0, listener },
      localPort: client.localPort ?? 0,
      cluster,
      node: undefined,
      failed: [],
      acceptedAt: Date.now(),
      data: {},
    };
    client.on('error', this.onClientError);
    client.on('close', this.onSocketClose);
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
    const up = this.upstream;
    return (
      this.client.writableLength + this.client.readableLength + (up ? up.writableLength + up.readableLength : 0)
    );
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
    const upstream = net.connect({
      host: node.host,
      port: node.port ?? this.ctx.localPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    this.upstream = upstream;
    upstream.setTimeout(node.connectTimeout);
    upstream.once('timeout', () => this.nodeFailed(upstream, node, new DialTimeoutError(node.connectTimeout)));
    upstream.once('connect', () => this.onConnect(upstream, node));
    upstream.on('error', (err) => this.onUpstreamError(upstream, node, err));
  }

  /**
   * The node failed before any byte passed either way (refused, timed out, or reset or
   * closed right after accepting): it is marked unavailable until the retry interval has
   * passed, and the client, still untouched, goes to the next node.
   */
  private nodeFailed(upstream: Socket, node: BalancerNode, err: Error): void {
    if (this.upstream !== upstream || (this.phase !== 'dialing' && !this.nothingPassed())) return;
    if (this.phase === 'connected') {
      this.client.unpipe(upstream);
      this.client.pause();
      upstream.removeListener('close', this.onSocketClose);
      node.activeConnections--;
      node.totalConnections--;
    }
    upstream.removeAllListeners('close');
    upstream.on('error', ignoreError);
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
    let next: BalancerNode | undefined;
    try {
      next = this.gen.hooks.fallover.call(this.ctx, node, err);
      if (next && this.ctx.failed.includes(next)) next = undefined;
      next ??= this.choose();
    } catch (e) {
      return this.abort('killed', `a plugin failed: ${describeError(e)}`, 'error');
    }
    if (next) return this.dial(next);
    const tried = this.ctx.failed.map((n) => n.key).join(', ');
    this.abort('unavailable', `no node could be reached (tried ${tried}; last: ${describeError(err)})`, 'warn');
  }

  private onConnect(upstream: Socket, node: BalancerNode): void {
    if (this.phase !== 'dialing' || this.upstream !== upstream) return;
    if (this.client.destroyed) {
      upstream.destroy();
      return this.finish();
    }
    this.phase = 'connected';
    upstream.setTimeout(0);
    node.connectLatency = Date.now() - this.dialStart;
    node.activeConnections++;
    node.totalConnections++;
    node.recentFailures = 0;
    node.available = true;
    node.retryAt = 0;
    upstream.on('close', this.onSocketClose);
    const idle = this.gen.config.idleTimeout;
    if (idle > 0) {
      this.client.setTimeout(idle);
      this.client.once('timeout', () => this.kill(`idle for ${idle} ms`));
    }
    try {
      this.gen.hooks.connected.call(this.ctx, node);
    } catch (err) {
      this.logger.error({ conn: this.ctx.id, err: describeError(err) }, 'a connected hook failed');
    }
    // Client bytes flow at once (the first one to pass ends any fall-over). The node's
    // side is piped from its first byte, so that an end or reset from a node that has
    // sent nothing, to a client that has sent nothing, can still fall over.
    this.client.pipe(upstream);
    const early = () => {
      upstream.removeListener('data', first);
      if (this.nothingPassed()) return this.nodeFailed(upstream, node, new Error('closed by the node before any byte passed'));
      this.phase = 'piping';
      this.client.end();
    };
    const first = (chunk: Buffer) => {
      upstream.removeListener('end', early);
      this.phase = 'piping';
      this.client.write(chunk);
      upstream.pipe(this.client);
    };
    upstream.once('end', early);
    upstream.once('data', first);
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
      !this.client.readableEnded &&
      (this.upstream?.bytesRead ?? 0) === 0
    );
  }

  private onClientError = (err: Error): void => {
    if (this.phase === 'done') return;
    this.noteReset(`client: ${describeError(err)}`);
    resetSocket(this.upstream);
  };

  private onUpstreamError(upstream: Socket, node: BalancerNode, err: Error): void {
    if (this.upstream !== upstream) return;
    if (this.phase === 'dialing' || this.nothingPassed()) return this.nodeFailed(upstream, node, err);
    if (this.phase !== 'piping' && this.phase !== 'connected') return;
    this.noteReset(`node ${node.key}: ${describeError(err)}`);
    resetSocket(this.client);
  }

  private noteReset(reason: string): void {
    if (this.outcome !== 'closed') return;
    this.outcome = 'reset';
    this.reason = reason;
  }

  /** Both sockets (or the client alone, when no node was connected) closed: the end. */
  private onSocketClose = (): void => {
    this.closedSockets++;
    if (this.phase === 'piping' || this.phase === 'connected') {
      // One side gone for good: the other cannot be used any more either.
      if (this.closedSockets === 1) {
        const other = this.client.destroyed ? this.upstream : this.client;
        if (other && !other.destroyed && this.outcome !== 'closed') resetSocket(other);
        return;
      }
      return this.finish();
    }
    if (this.phase === 'dialing' && this.client.destroyed) {
      // The client left while we dialled: give up on the node.
      this.upstream?.destroy();
      this.noteReset('client closed while dialling');
      return this.finish();
    }
  };

  private abort(outcome: ConnectionOutcome, reason: string, level: 'info' | 'warn' | 'error'): void {
    this.outcome = outcome;
    this.reason = reason;
    this.logger[level]({ conn: this.ctx.id, client: this.ctx.client.address, cluster: this.ctx.cluster.name }, reason);
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
