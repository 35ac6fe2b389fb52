/**
 * Random by a cryptographic hash of the client IP: weighted rendezvous hashing.
 *
 * Contract: each node scores loadFactor / -ln(u), with u in (0, 1) taken from
 * HMAC-SHA-256(secret, clientIP + "|" + nodeId); the highest score wins. So
 * (a) two balancers with the same node ids and secret choose alike, with no shared state;
 * (b) adding a node moves only about its share of clients, all to the new node, and
 *     removing one moves only its own clients;
 * (c) the scores rank every node, giving a fall-over order both balancers agree on;
 * and each node wins loadFactor / total of the clients. IPv4-mapped IPv6 addresses
 * (`::ffff:10.0.0.1`) count as their IPv4 form. Options: `hashSecret`.
 */
import { defineAlgorithm, type ClientView, type NodeView } from 'protobalance';
import { hmacSha256 } from './sha256.ts';

const TWO_POW_53 = 2 ** 53;
/** Clients whose hashes are remembered (a hash costs two SHA-256 runs per node). */
const CACHED_CLIENTS = 10_000;

export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

export default defineAlgorithm({
  name: 'client-hash',
  create(options) {
    const mac = hmacSha256(options.hashSecret ?? '');
    // -ln(u) per client and node id depends on nothing else, so it is kept for the most
    // recent clients (oldest forgotten first): returning clients cost no hashing.
    const cache = new Map<string, Map<string, number>>();
    const weightOf = (address: string, id: string): number => {
      let perNode = cache.get(address);
      if (perNode) {
        cache.delete(address);
        cache.set(address, perNode);
      } else {
        perNode = new Map();
        cache.set(address, perNode);
        if (cache.size > CACHED_CLIENTS) cache.delete(cache.keys().next().value!);
      }
      let w = perNode.get(id);
      if (w === undefined) {
        const d = mac(`${address}|${id}`);
        // 53 random bits, shifted off 0 so that ln(u) is finite.
        const bits = d[0]! * 2 ** 45 + d[1]! * 2 ** 37 + d[2]! * 2 ** 29 + d[3]! * 2 ** 21 + d[4]! * 2 ** 13 + d[5]! * 2 ** 5 + (d[6]! >> 3);
        w = -Math.log((bits + 0.5) / TWO_POW_53);
        perNode.set(id, w);
      }
      return w;
    };
    const score = (address: string, node: NodeView): number => node.loadFactor / weightOf(address, node.id);
    const rank = (nodes: readonly NodeView[], client: ClientView): string[] => {
      const address = normalizeAddress(client.address);
      return nodes
        .map((node) => ({ id: node.id, s: score(address, node) }))
        .sort((x, y) => y.s - x.s)
        .map((x) => x.id);
    };
    return {
      pick(nodes, client) {
        const address = normalizeAddress(client.address);
        let best: string | undefined;
        let bestScore = -Infinity;
        for (const node of nodes) {
          const s = score(address, node);
          if (s > bestScore) {
            bestScore = s;
            best = node.id;
          }
        }
        return best;
      },
      rank,
      // Reads ids and load factors only: in the sandbox the host writes no other figure.
      usesTable: [],
    };
  },
});
