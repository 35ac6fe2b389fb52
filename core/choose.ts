/**
 * Choosing a node for one connection through the hooks: affinity, filters, the
 * selectNode override, then the cluster's algorithm; then the cluster's fall-over
 * clusters when none of its own nodes is a candidate. Nodes that already failed for this
 * connection are never offered again, nor those `claimNode` refused in this choice
 * (`skipped`). Only green nodes take new connections: a choice
 * that lands on a yellow node (by the algorithm, or by affinity) moves along that node's
 * fall-over chain first, else to the algorithm's choice among the green ones.
 */
import type { BalancerNode, Cluster } from './cluster.ts';
import type { ConnectionContext } from './context.ts';
import type { Generation } from './generation.ts';

/** The first node along `node`'s fall-over chain (the node itself excluded) among `candidates`. */
export function alongChain(cluster: Cluster, node: BalancerNode | undefined, candidates: readonly BalancerNode[]): BalancerNode | undefined {
  let at = node;
  for (let steps = 0; at?.fallover !== undefined && steps < cluster.nodes.length; steps++) {
    at = cluster.node(at.fallover);
    if (at && candidates.includes(at)) return at;
  }
  return undefined;
}

const NONE: readonly BalancerNode[] = [];

/**
 * The node to dial for `ctx`, or undefined when no cluster in the fall-over line has a
 * candidate (less `skipped`). `bound` is the id affinity resolved (first choice only): used when it is a
 * candidate; when it is not (down, yellow, red), its fall-over chain is tried first.
 */
export function chooseNode(
  gen: Generation,
  ctx: ConnectionContext,
  bound: string | undefined,
  skipped: readonly BalancerNode[] = NONE,
): BalancerNode | undefined {
  const { hooks } = gen;
  const failed = ctx.failed;
  // Fall-over clusters form no cycle (config validation): the line ends within as many
  // steps as there are clusters, with no per-connection bookkeeping.
  let steps = 0;
  for (let cluster: Cluster | undefined = ctx.cluster; cluster && steps++ < gen.clusters.size; ) {
    const all =
      failed.length === 0 && skipped.length === 0 ? cluster.nodes : cluster.nodes.filter((n) => !failed.includes(n) && !skipped.includes(n));
    const candidates = all.length === 0 ? all : hooks.filterNodes.call(all, ctx);
    // Only green nodes take new clients; a pick that falls on a yellow one goes to its
    // fall-over node first, else to another green node.
    const green = candidates.every((n) => n.state === 'green') ? candidates : candidates.filter((n) => n.state === 'green');
    if (green.length > 0) {
      if (bound !== undefined && cluster === ctx.cluster) {
        const node = green.find((n) => n.id === bound) ?? alongChain(cluster, cluster.node(bound), green);
        if (node) return node;
      }
      const picked = hooks.selectNode.call(ctx, candidates) ?? cluster.chooser.choose(candidates, ctx.client);
      if (picked.state === 'green') return picked;
      return alongChain(cluster, picked, green) ?? cluster.chooser.choose(green, ctx.client);
    }
    const next: string | undefined = cluster.config.fallover;
    cluster = next === undefined ? undefined : gen.clusters.get(next);
  }
  return undefined;
}
