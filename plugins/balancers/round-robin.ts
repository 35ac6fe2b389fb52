/**
 * Round robin, smooth and weighted (the nginx method).
 *
 * Contract: over any run of picks among an unchanged candidate set, each node gets picks
 * in proportion to its load factor, and a node's picks are spread out rather than bunched:
 * factors {a: 3, b: 1} give a, a, b, a, then again. Each pick adds every candidate's
 * factor to its running weight, takes the highest (the first on a tie), and takes the
 * total back from the winner. Weights are kept by node id, so candidates that come and
 * go (a node filtered out for a while) do not disturb the others' turns.
 *
 * In the sandbox (a candidate table, see node-table.ts) the same sequence costs
 * O(groups + log n) a pick instead of O(n): after p picks a node's weight is
 * base + factor × p, where base drops by the total when it wins. Nodes with the same
 * factor keep their order between picks, so each factor group is a heap on
 * (base desc, index asc), and a pick compares only the groups' tops. Weights are written
 * back by id when the candidates change. Same picks as the scan for whole-number factors
 * (exact arithmetic); fractional ones may round differently on near-ties.
 */
import { defineAlgorithm, type NodeView } from 'protobalance';
import { tableOf, type NodeTable } from './node-table.ts';

interface Group {
  factor: number;
  heap: Int32Array;
}

export default defineAlgorithm({
  name: 'round-robin',
  // Picks depend only on the candidates' ids and factors: the sandbox may plan them ahead.
  batchable: true,
  // From a new instance the picks repeat every sum-of-factors picks: the processes of a
  // group share one position in that cycle and rotate as one balancer.
  cyclic: true,
  create() {
    const current = new Map<string, number>();
    // The fast path's state, for one candidate set (`version`).
    let version = -1;
    let ids: string[] = [];
    let base = new Float64Array(0);
    let groups: Group[] = [];
    let picks = 0;
    let total = 0;

    /** Write the fast path's weights back by id (they are base + factor × picks). */
    const settle = (): void => {
      for (const g of groups) for (const i of g.heap) current.set(ids[i]!, base[i]! + g.factor * picks);
      version = -1;
      groups = [];
    };
    const prune = (nodes: readonly NodeView[]): void => {
      if (current.size <= nodes.length * 4) return;
      // Forget nodes long gone so the map cannot grow without bound.
      const live = new Set(nodes.map((n) => n.id));
      for (const id of current.keys()) if (!live.has(id)) current.delete(id);
    };
    const load = (nodes: readonly NodeView[], t: NodeTable): void => {
      if (version !== -1) settle();
      prune(nodes);
      const n = nodes.length;
      ids = nodes.map((node) => node.id);
      base = new Float64Array(n);
      total = 0;
      const byFactor = new Map<number, number[]>();
      for (let i = 0; i < n; i++) {
        const factor = t.figures[i * t.stride]!;
        base[i] = current.get(ids[i]!) ?? 0;
        total += factor;
        let list = byFactor.get(factor);
        if (!list) byFactor.set(factor, (list = []));
        list.push(i);
      }
      groups = [...byFactor].map(([factor, list]) => {
        const heap = Int32Array.from(list);
        for (let k = (heap.length >> 1) - 1; k >= 0; k--) down(heap, base, k);
        return { factor, heap };
      });
      picks = 0;
      version = t.version;
    };

    const scan = (nodes: readonly NodeView[]): string => {
      if (version !== -1) settle();
      let sum = 0;
      let best = -1;
      let bestWeight = -Infinity;
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i]!;
        const weight = (current.get(node.id) ?? 0) + node.loadFactor;
        current.set(node.id, weight);
        sum += node.loadFactor;
        if (weight > bestWeight) {
          bestWeight = weight;
          best = i;
        }
      }
      const chosen = nodes[best]!;
      current.set(chosen.id, bestWeight - sum);
      prune(nodes);
      return chosen.id;
    };

    return {
      pick(nodes) {
        const t = tableOf(nodes);
        if (!t) return scan(nodes);
        if (t.version !== version) load(nodes, t);
        picks++;
        let best: Group | undefined;
        let bestIndex = -1;
        let bestWeight = -Infinity;
        for (const g of groups) {
          const i = g.heap[0]!;
          const weight = base[i]! + g.factor * picks;
          if (weight > bestWeight || (weight === bestWeight && i < bestIndex)) {
            bestWeight = weight;
            bestIndex = i;
            best = g;
          }
        }
        base[bestIndex] = base[bestIndex]! - total;
        down(best!.heap, base, 0);
        return ids[bestIndex]!;
      },
      // Read from the table: loadFactor only (always there).
      usesTable: [],
    };
  },
});

/** Restore the heap (highest base first, then lowest index) below position k. */
function down(heap: Int32Array, base: Float64Array, k: number): void {
  const n = heap.length;
  const item = heap[k]!;
  for (;;) {
    let child = 2 * k + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap[child + 1]!, heap[child]!, base)) child++;
    if (!before(heap[child]!, item, base)) break;
    heap[k] = heap[child]!;
    k = child;
  }
  heap[k] = item;
}

function before(i: number, j: number, base: Float64Array): boolean {
  return base[i]! > base[j]! || (base[i] === base[j] && i < j);
}
