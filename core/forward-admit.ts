/**
 * The first half of a connection (see core/forward.ts for the second): what happens
 * before a node is dialled. The client's preface when a plugin asks for one, the accept
 * hook, the choice of a node with its claims (core/forward-claims.ts), the wait when none
 * is left, and turning the client away, counted by code. The dial and what follows are
 * the subclass's (`dial`, `finish`).
 *
 * - Optional hooks (preface, claimNode, waitForNode) are asked `isUsed()` first:
 *   untapped, they cost a connection nothing.
 * - Bytes read from the client before forwarding (after a preface; while it waits, which
 *   must notice a client that leaves) are held, and the node gets them first.
 */
import { chooseNode } from './choose.ts';
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ConnectionContext, ConnectionOutcome, PrefaceReader, Refusal } from './context.ts';
import type { Endpoint, EndpointListener } from './datapath/index.ts';
import { describeError } from './errors.ts';
import { Context, LazyClientView, readRefusal } from './forward-context.ts';
import { NodeClaims } from './forward-claims.ts';
import { invalidReader, Preface } from './forward-preface.ts';
import type { Generation } from './generation.ts';
import { FAILED_PREFACE } from './hooks.ts';
import type { Logger } from './logger.ts';

export interface RefusalCounter {
  /** A client of `listener` was turned away without a node, counted under `code`. */
  refused(listener: string, code: string): void;
}

/** Client bytes held while waiting for a node; beyond, the client is not read (backpressure). */
const HOLD_MAX = 64 * 1024;
const PLUGIN_FAILED = 'a plugin failed on this connection';

type Level = 'debug' | 'info' | 'warn' | 'error';

function onPrefaceTimeout(conn: Admission, ms: number): void {
  conn.prefaceTimedOut(ms);
}

export abstract class Admission implements Pick<EndpointListener, 'onData'> {
  readonly ctx: ConnectionContext;
  readonly client: Endpoint;
  protected readonly context: Context;
  protected readonly gen: Generation;
  protected readonly logger: Logger;
  protected readonly tracker: RefusalCounter;
  /** connected: TCP is up but no byte has come from the node yet. */
  protected phase: 'prefacing' | 'choosing' | 'waiting' | 'dialing' | 'connected' | 'piping' | 'done' = 'choosing';
  protected outcome: ConnectionOutcome = 'closed';
  protected reason: string | undefined;
  protected refusal: string | undefined;
  /** The node affinity bound the client to (first choice only). */
  protected bound: string | undefined;
  protected lastFailure = '';
  /** Only when claimNode is tapped. */
  protected readonly claims: NodeClaims | undefined;
  protected preface: Preface | undefined;
  /** What the core's own refusals of the preface count under (the reader's `code`, else 'preface'). */
  protected prefaceCode = 'preface';
  protected prefaceTimer: NodeJS.Timeout | undefined;
  /** Client bytes the preface consumed: read, never forwarded. */
  protected prefaceBytes = 0;
  /** Client bytes read but not forwarded yet (after the preface, while waiting): the node gets them first. */
  protected held: Buffer | undefined;

  constructor(client: Endpoint, gen: Generation, cluster: Cluster, listener: string, logger: Logger, tracker: RefusalCounter) {
    this.client = client;
    this.gen = gen;
    this.logger = logger;
    this.tracker = tracker;
    this.ctx = this.context = new Context(client, new LazyClientView(client, listener), cluster);
    if (gen.hooks.claimNode.isUsed()) this.claims = new NodeClaims(gen.hooks, this.ctx, logger);
  }

  /** Run the connection: preface, accept hook, choice, dial. Never throws. */
  start(): void {
    try {
      const hooks = this.gen.hooks;
      if (hooks.preface.isUsed()) {
        let reader: PrefaceReader | undefined;
        try {
          reader = hooks.preface.call(this.ctx);
        } catch (err) {
          // Plugins' taps are guarded (FAILED_PREFACE); this is for taps made on the core's own hooks.
          this.logger.error({ conn: this.ctx.id, err: describeError(err) }, 'a preface hook failed');
          reader = FAILED_PREFACE;
        }
        if (reader !== undefined) return this.readPreface(reader);
      }
      this.admit();
    } catch (err) {
      this.pluginFailed(err);
    }
  }

  /** After the preface (if any): the accept hook, then the first choice. */
  protected admit(): void {
    const hooks = this.gen.hooks;
    const refusal = hooks.accept.call(this.ctx);
    if (refusal !== undefined) return this.refuse(refusal, 'refused');
    this.bound = hooks.resolveAffinity.call(this.ctx);
    this.proceed(this.choose(), undefined);
  }

  protected choose(): BalancerNode | undefined {
    return chooseNode(this.gen, this.ctx, this.ctx.failed.length === 0 ? this.bound : undefined, this.claims?.skipped);
  }

  /**
   * Dial `node`, or when claimNode refuses it the next choice, until one is claimed or
   * none is left (then wait, or turn the client away). `after`: the node that failed before.
   */
  protected proceed(node: BalancerNode | undefined, after: BalancerNode | undefined): void {
    const claims = this.claims;
    if (claims !== undefined) {
      while (node !== undefined && !claims.claim(node)) node = this.choose();
      if (node !== undefined) claims.skipped.length = 0;
    }
    if (node === undefined) return this.noNodeLeft();
    if (after !== undefined) after.fallovers++;
    this.dial(node);
  }

  /**
   * No node to dial. waitForNode, when tapped, is asked on a first choice and on a choice
   * where claimNode refused nodes (they are full, and may free up); nodes that all failed
   * to connect are not worth a wait.
   */
  protected noNodeLeft(): void {
    if (this.gen.hooks.waitForNode.isUsed() && (this.ctx.failed.length === 0 || (this.claims?.skipped.length ?? 0) > 0)) return this.wait();
    this.turnAway();
  }

  protected turnAway(): void {
    if (this.ctx.failed.length === 0) return this.abort('no-node', `no node of cluster ${this.ctx.cluster.name} is available`, 'warn', 'no-node');
    const tried = this.ctx.failed.map((n) => n.key).join(', ');
    this.abort('unavailable', `no node could be reached (tried ${tried}; last: ${this.lastFailure})`, 'warn', 'unavailable');
  }

  /** Ask waitForNode; the client is read meanwhile only to notice that it leaves. */
  protected wait(): void {
    this.phase = 'waiting';
    this.ctx.node = undefined;
    if ((this.held?.length ?? 0) < HOLD_MAX) this.client.capture();
    let answer: Promise<'retry' | Refusal | undefined>;
    try {
      answer = this.gen.hooks.waitForNode.promise(this.ctx);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (a) => this.waited(a),
      (err: unknown) => {
        this.logger.error({ conn: this.ctx.id, err: describeError(err) }, 'a waitForNode hook failed');
        this.waited(undefined);
      },
    );
  }

  protected waited(answer: 'retry' | Refusal | undefined): void {
    if (this.phase !== 'waiting') return; // the client left meanwhile
    this.client.stopReading();
    this.phase = 'choosing';
    try {
      if (this.claims) this.claims.skipped.length = 0;
      if (answer === 'retry') {
        if (this.ctx.failed.length === 0) this.bound = this.gen.hooks.resolveAffinity.call(this.ctx);
        return this.proceed(this.choose(), undefined);
      }
      if (answer !== undefined) return this.refuse(answer, 'refused');
      this.turnAway();
    } catch (err) {
      this.pluginFailed(err);
    }
  }

  protected readPreface(reader: PrefaceReader): void {
    if (reader === FAILED_PREFACE) return this.refuse(PLUGIN_FAILED, 'preface');
    const invalid = invalidReader(reader);
    if (invalid) return this.refuse(invalid, 'preface');
    this.phase = 'prefacing';
    this.prefaceCode = readRefusal({ code: reader.code, message: '' }, 'preface').code;
    this.preface = new Preface(reader);
    // Node turns a delay past 2^31-1 ms into 1 ms: such a deadline is as good as none.
    this.prefaceTimer = setTimeout(onPrefaceTimeout, Math.min(reader.timeout, 2 ** 31 - 1), this, reader.timeout);
    this.client.capture();
  }

  prefaceTimedOut(ms: number): void {
    this.prefaceTimer = undefined;
    if (this.phase === 'prefacing') this.refuse(`no complete preface within ${ms} ms (${this.preface?.bytes ?? 0} bytes received)`, this.prefaceCode);
  }

  /** A chunk captured from the client: its preface, or bytes sent while it waits for a node. */
  onData(ep: Endpoint, chunk: Buffer): void {
    if (ep !== this.client) return;
    if (this.phase === 'waiting') {
      this.held = this.held === undefined ? chunk : Buffer.concat([this.held, chunk]);
      if (this.held.length >= HOLD_MAX) this.client.stopReading();
      return;
    }
    if (this.phase !== 'prefacing' || !this.preface) return;
    const step = this.preface.add(chunk);
    if (step.kind === 'more') return;
    if (step.kind === 'refuse') return this.refuse(step.refusal, this.prefaceCode);
    this.client.stopReading();
    clearTimeout(this.prefaceTimer);
    this.prefaceTimer = undefined;
    this.preface = undefined;
    this.phase = 'choosing';
    this.prefaceBytes = step.consumed;
    this.held = step.rest;
    if (step.client) {
      this.context.proxiedBy = { address: this.client.remoteAddress, port: this.client.remotePort };
      this.context.client.replace(step.client.address, step.client.port);
    }
    try {
      this.admit();
    } catch (err) {
      this.pluginFailed(err);
    }
  }

  protected leftWhileWaiting(reason: string): void {
    this.reason = reason;
    this.client.destroy();
    this.finish();
  }

  /** A refusal by a plugin (or of a preface): counted under its code. */
  protected refuse(refusal: Refusal | unknown, plain: string): void {
    const { code, message } = readRefusal(refusal, plain);
    this.abort('refused', message, 'info', code);
  }

  protected pluginFailed(err: unknown): void {
    this.abort('killed', `${PLUGIN_FAILED}: ${describeError(err)}`, 'error', 'plugin-error');
  }

  /** Turn the client away before any node served it: counted as the listener's refusal, by code. */
  protected abort(outcome: ConnectionOutcome, reason: string, level: Level, code: string): void {
    if (this.phase === 'done') return;
    this.outcome = outcome;
    this.reason = reason;
    this.refusal = code;
    const { id, client, cluster, proxiedBy } = this.ctx;
    const where = { conn: id, client: client.address, listener: client.listener, cluster: cluster.name, code };
    this.logger[level](proxiedBy ? { ...where, proxiedBy: proxiedBy.address } : where, reason);
    this.tracker.refused(this.ctx.client.listener, code);
    this.client.destroy();
    this.finish();
  }

  /** Dial the node (claimed, when claims are asked). */
  protected abstract dial(node: BalancerNode): void;

  /** The end: counted, released, the closed hook. */
  protected abstract finish(): void;
}
