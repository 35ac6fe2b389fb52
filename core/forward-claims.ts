/**
 * The claimNode / releaseNode bookkeeping of one connection: at most one node claimed at
 * a time, released exactly once per claim (refused at once, its dial failed, or the
 * connection ended), and the nodes refused in the current choice, which the choice skips.
 * Made only when claimNode is tapped: an untapped one costs a connection nothing.
 */
import type { BalancerNode } from './cluster.ts';
import type { ConnectionContext } from './context.ts';
import { describeError } from './errors.ts';
import { readRefusal } from './forward-context.ts';
import type { Hooks } from './hooks.ts';
import type { Logger } from './logger.ts';

export class NodeClaims {
  /** Refused by claimNode in the current choice: not offered again until a node is dialled or a wait says retry. */
  readonly skipped: BalancerNode[] = [];
  private claimed: BalancerNode | undefined;

  constructor(
    private readonly hooks: Hooks,
    private readonly ctx: ConnectionContext,
    private readonly logger: Logger,
  ) {}

  /** True when `node` may be dialled (it is then claimed); false when refused (and released, and skipped). */
  claim(node: BalancerNode): boolean {
    let refusal: unknown;
    try {
      refusal = this.hooks.claimNode.call(this.ctx, node);
    } catch (err) {
      // A limit that cannot be checked is not granted.
      this.logger.error({ conn: this.ctx.id, node: node.key, err: describeError(err) }, 'a claimNode hook failed');
      refusal = 'a plugin failed on this connection';
    }
    if (refusal === undefined) {
      this.claimed = node;
      return true;
    }
    const { code, message } = readRefusal(refusal, 'refused');
    this.logger.debug({ conn: this.ctx.id, node: node.key, code }, `node not claimed: ${message}`);
    this.skipped.push(node);
    this.releaseNode(node);
    return false;
  }

  /** The claimed node is done with (its dial failed, or the connection ended). */
  release(): void {
    const node = this.claimed;
    if (node === undefined) return;
    this.claimed = undefined;
    this.releaseNode(node);
  }

  private releaseNode(node: BalancerNode): void {
    try {
      this.hooks.releaseNode.call(this.ctx, node);
    } catch (err) {
      this.logger.error({ conn: this.ctx.id, node: node.key, err: describeError(err) }, 'a releaseNode hook failed');
    }
  }
}
