/**
 * Random by a cryptographic hash of the client IP: a weighted consistent-hash ring.
 *
 * Contract: a client's place is HMAC-SHA-256(secret, address) (its first 32 bits); each
 * node sits at about k × loadFactor points HMAC-SHA-256(secret, id + '#' + j) on the same
 * 32-bit ring (hash-ring.ts: k, point counts, cost); the client goes to the owner of the
 * first point at or after its place. So
 * (a) two balancers (or processes, or the core's in-process fallback) with the same node
 *     ids, factors and secret choose alike, with no shared state and in any candidate order;
 * (b) removing a node moves only its own clients, and adding one moves clients only to it,
 *     while the ring's density k stays put: always for clusters whose factors sum to 16 or
 *     less; in larger ones k follows the total, so a change also moves about as many
 *     clients again between a few other nodes;
 * (c) walking the ring on from the client's point ranks every node once: a fall-over
 *     order both balancers agree on;
 * and each node wins about loadFactor / total of the clients (within ≈ 2 % at a few nodes;
 * see hash-ring.ts for large clusters). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`)
 * count as their IPv4 form. Options: `hashSecret`.
 *
 * Cost: one HMAC and a binary search per pick, O(log n) (returning clients skip the HMAC);
 * the ring is rebuilt only when the candidates' ids or factors change: O(n + 2^16), a few
 * ms at 5,000 nodes once V8 has compiled it, 10–15 ms the first time in a fresh isolate. In the sandbox a change is seen from the candidate
 * table's version (node-table.ts); over plain NodeViews (in-process) each pick compares
 * ids and factors with the last set's, O(n) but only reads.
 *
 * This replaced weighted rendezvous hashing (one HMAC per node per pick, ≈ 50 ms at 5,000
 * nodes): clients were placed anew once, on that upgrade.
 */
import { defineAlgorithm, type ClientView, type NodeView } from 'protobalance';
import { hmacSha256Words } from './sha256.ts';
import { lookup, ringBuilder, walk, type Ring } from './hash-ring.ts';
import { tableOf } from './node-table.ts';

/** Client places remembered (oldest forgotten first): a returning client costs no HMAC. */
const CACHED_CLIENTS = 10_000;

export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

export default defineAlgorithm({
  name: 'client-hash',
  create(options) {
    const secret = options.hashSecret ?? '';
    const mac = hmacSha256Words(secret);
    const build = ringBuilder(secret);
    const digest = new Uint32Array(8);
    const places = new Map<string, number>();
    const placeOf = (client: ClientView): number => {
      const address = normalizeAddress(client.address);
      let h = places.get(address);
      if (h === undefined) {
        mac(address, digest);
        h = digest[0]!;
        if (places.size >= CACHED_CLIENTS) places.delete(places.keys().next().value!);
        places.set(address, h);
      }
      return h;
    };

    // The ring for the last candidate set, known by the table's version (sandbox) or by
    // its ids and factors (plain NodeViews).
    let ring: Ring | undefined;
    let version = -1;
    let lastIds: string[] = [];
    let lastFactors: Float64Array = new Float64Array(0);
    const ringFor = (nodes: readonly NodeView[]): Ring | undefined => {
      if (nodes.length === 0) return undefined;
      const t = tableOf(nodes);
      if (t) {
        if (ring && t.version === version) return ring;
        const factors = new Float64Array(nodes.length);
        for (let i = 0; i < nodes.length; i++) factors[i] = t.figures[i * t.stride]!;
        remember(nodes, factors);
        version = t.version;
        return ring;
      }
      version = -1;
      if (ring && sameSet(nodes)) return ring;
      remember(nodes, Float64Array.from(nodes, (node) => node.loadFactor));
      return ring;
    };
    const sameSet = (nodes: readonly NodeView[]): boolean => {
      if (nodes.length !== lastIds.length) return false;
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i]!;
        if (node.id !== lastIds[i] || node.loadFactor !== lastFactors[i]) return false;
      }
      return true;
    };
    const remember = (nodes: readonly NodeView[], factors: Float64Array): void => {
      const ids = nodes.map((node) => node.id);
      // A reordering of the same set keeps the ring (it is order-free).
      if (!ring || !sameContent(ids, factors)) ring = build(ids, factors);
      lastIds = ids;
      lastFactors = factors;
    };
    const sameContent = (ids: string[], factors: Float64Array): boolean => {
      if (ids.length !== lastIds.length) return false;
      const before = new Map<string, number>();
      for (let i = 0; i < lastIds.length; i++) before.set(lastIds[i]!, lastFactors[i]!);
      for (let i = 0; i < ids.length; i++) if (before.get(ids[i]!) !== factors[i]) return false;
      return true;
    };

    return {
      pick(nodes, client) {
        const r = ringFor(nodes);
        return r ? r.ids[r.owner[lookup(r, placeOf(client))]!] : undefined;
      },
      rank(nodes, client) {
        const r = ringFor(nodes);
        return r ? walk(r, lookup(r, placeOf(client))) : [];
      },
      // Reads ids and load factors only: in the sandbox the host writes no other figure.
      usesTable: [],
    };
  },
});
